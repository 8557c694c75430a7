"""OpenTelemetry tracing: webhook request → workflow start or signal → activities → HTTP calls.

Off unless a collector is configured (`Q2C_OTLP_ENDPOINT`, else the standard
`OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); then spans are batched to
it over OTLP/HTTP. Once on, in this process:

- Temporal clients from `adapters.temporal_client.connect` carry Temporal's `TracingInterceptor`
  (it is a worker interceptor too, so a worker built on such a client traces workflows and
  activities; the span context travels in Temporal headers);
- every httpx client (the Salesforce, billing and ERP adapters) traces its requests and sends
  `traceparent`;
- the webhook receiver traces each request (FastAPI instrumentation).

`install(provider)` does the same with a provider of the caller's (tests: an in-memory exporter).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from temporalio.client import Interceptor

from adapters.settings import Settings

if TYPE_CHECKING:  # imported when tracing is turned on: the CLI starts without them
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger("q2c.tracing")

_STANDARD_ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_state: dict[str, Any] = {"provider": None, "httpx": False}


def otlp_endpoint(settings: Settings) -> str:
    """Where spans go: Q2C_OTLP_ENDPOINT, else the OTEL_* variables; empty: nowhere."""
    if settings.otlp_endpoint.strip():
        return settings.otlp_endpoint.strip()
    for name in _STANDARD_ENDPOINTS:
        if os.environ.get(name, "").strip():
            return os.environ[name].strip()
    return ""


def configure_tracing(settings: Settings, service_name: str) -> bool:
    """Export spans over OTLP/HTTP when an endpoint is configured; True if tracing is on."""
    if _state["provider"] is not None:
        return True
    endpoint = otlp_endpoint(settings)
    if not endpoint:
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if settings.otlp_endpoint.strip():  # a base address, like OTEL_EXPORTER_OTLP_ENDPOINT
        exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
    else:  # the exporter reads the OTEL_* variables itself (headers, timeouts, paths)
        exporter = OTLPSpanExporter()
    service = os.environ.get("OTEL_SERVICE_NAME") or service_name
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    install(provider)
    log.info("tracing: spans exported over OTLP/HTTP as service %s", service)
    return True


def install(provider: TracerProvider) -> None:
    """Make `provider` this process's tracer provider and instrument httpx (once)."""
    from opentelemetry import trace
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    if _state["provider"] is None:
        trace.set_tracer_provider(provider)
        _state["provider"] = provider
    if not _state["httpx"]:
        HTTPXClientInstrumentor().instrument()
        _state["httpx"] = True


def enabled() -> bool:
    return _state["provider"] is not None


def client_interceptors() -> list[Interceptor]:
    """Temporal's tracing interceptor when tracing is on (for clients, and workers on them)."""
    if not enabled():
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor()]


def instrument_app(app: FastAPI) -> None:
    """Trace the webhook receiver's requests when tracing is on (health checks excluded)."""
    if not enabled():
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz")


def shutdown() -> None:
    """Flush spans still batched (at process exit)."""
    provider = _state["provider"]
    if provider is not None:
        provider.force_flush()
