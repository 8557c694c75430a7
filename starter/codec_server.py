"""The remote codec endpoint the Temporal Web UI and CLI call to see decrypted payloads.

Temporal's codec server protocol: `POST /decode` and `POST /encode` (also under a namespace
segment, `/{namespace}/decode`, for the CLI's `--codec-endpoint` templating), each taking and
answering `{"payloads": [...]}` in proto3 JSON (metadata values and data in base64). The UI
sends the namespace in `X-Namespace`; one deployment has one set of keys, so it is accepted
and not needed. The browser calls this server from the UI's page, so:

- CORS answers only the configured UI origins (`Q2C_CODEC_SERVER_ORIGINS`); a preflight from
  any other origin is refused (400) and any request that carries another `Origin` gets 403,
  so a page elsewhere cannot have a visitor's browser decrypt for it;
- with `Q2C_CODEC_SERVER_TOKEN` set, every request needs `Authorization: Bearer <token>`
  (401 otherwise), compared in constant time.

Answers: 200 the payloads, 400 a body that is not the protocol's JSON or a payload that
cannot be decrypted (unknown key id, altered data; the message names the key id), 401, 403,
413 a body over `MAX_BODY_BYTES`. Nothing here logs payloads, keys or the token.
"""

from __future__ import annotations

import hmac
import json
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from starlette.middleware.cors import CORSMiddleware
from temporalio.api.common.v1 import Payload, Payloads

from adapters.codec import CodecError, EncryptionCodec, codec_from_settings
from adapters.settings import ConfigError, Settings
from starter.serving import AppServer, bind_socket

MAX_BODY_BYTES = 16 * 1024 * 1024
ALLOWED_HEADERS = ["content-type", "x-namespace", "authorization"]
ORIGINS_VARIABLE = "Q2C_CODEC_SERVER_ORIGINS"

Transform = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]


def parse_origins(text: str) -> list[str]:
    """`scheme://host[:port]` entries, comma-separated; no wildcard, path or trailing slash."""
    origins: list[str] = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        parts = urlsplit(entry)
        try:
            parts.port  # noqa: B018  (raises ValueError on a port out of range)
        except ValueError:
            parts = urlsplit("")
        if (
            parts.scheme not in {"http", "https"}
            or not parts.hostname
            or "*" in entry
            or parts.username
            or parts.path
            or parts.query
            or parts.fragment
        ):
            raise ConfigError(
                f"{ORIGINS_VARIABLE}: {entry!r} is not an origin; write each Web UI origin "
                "exactly as the browser shows it, scheme://host[:port], e.g. "
                "http://localhost:8233 (no path, no wildcard)"
            )
        origins.append(entry)
    if not origins:
        raise ConfigError(f"{ORIGINS_VARIABLE}: name at least the Web UI's origin")
    return origins


def _problem(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def create_app(codec: EncryptionCodec, *, origins: Sequence[str], token: str = "") -> FastAPI:
    """The codec server over `codec`, answering browsers from `origins` only."""
    app = FastAPI(
        title="q2c codec server",
        summary="Temporal remote codec: decrypts q2c's payloads for the Web UI and CLI.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    allowed = set(origins)
    expected = f"Bearer {token}".encode() if token else b""

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Any:
        origin = request.headers.get("origin")
        if origin is not None and origin not in allowed:
            return _problem(403, f"origin {origin[:200]!r} is not allowed ({ORIGINS_VARIABLE})")
        if expected and request.url.path != "/healthz":
            given = request.headers.get("authorization", "").encode("utf-8", "replace")
            if not hmac.compare_digest(given, expected):
                return _problem(
                    401,
                    "missing or wrong bearer token (Authorization: Bearer <token>)",
                    {"WWW-Authenticate": "Bearer"},
                )
        return await call_next(request)

    # Added last, so it runs first: preflights are answered (or refused) before the guard.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(origins),
        allow_methods=["POST"],
        allow_headers=ALLOWED_HEADERS,
        allow_credentials=False,
        max_age=600,
    )

    async def apply(request: Request, transform: Transform) -> JSONResponse:
        declared = request.headers.get("content-length", "0")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return _problem(413, f"body over {MAX_BODY_BYTES} bytes")
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _problem(413, f"body over {MAX_BODY_BYTES} bytes")
        try:
            document = json.loads(body)
            if not isinstance(document, dict) or not isinstance(document.get("payloads"), list):
                raise ValueError("not an object with a payloads list")
            payloads = json_format.ParseDict(document, Payloads(), ignore_unknown_fields=True)
        except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
            reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            return _problem(400, f'expected {{"payloads": [...]}} (proto3 JSON): {reason}')
        try:
            result = await transform(payloads.payloads)
        except CodecError as exc:
            return _problem(400, str(exc))
        return JSONResponse(
            {"payloads": [json_format.MessageToDict(p) for p in result]},
            headers={"Cache-Control": "no-store"},
        )

    @app.post("/decode")
    async def decode(request: Request) -> JSONResponse:
        return await apply(request, codec.decode)

    @app.post("/encode")
    async def encode(request: Request) -> JSONResponse:
        return await apply(request, codec.encode)

    @app.post("/{namespace}/decode")
    async def decode_in(namespace: str, request: Request) -> JSONResponse:
        return await apply(request, codec.decode)

    @app.post("/{namespace}/encode")
    async def encode_in(namespace: str, request: Request) -> JSONResponse:
        return await apply(request, codec.encode)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def app_from_settings(
    settings: Settings, codec: EncryptionCodec | None, extra_origins: Sequence[str] = ()
) -> FastAPI:
    """The app as `q2c codec-server` runs it: a ConfigError names what is missing."""
    if codec is None:
        raise ConfigError(
            "Q2C_ENCRYPTION_KEY is not set: the codec server has no key to decrypt with "
            "(`q2c codec-key` prints a new one; give the workers the same)"
        )
    origins = parse_origins(settings.codec_server_origins)
    return create_app(
        codec,
        origins=[*origins, *(o for o in extra_origins if o not in origins)],
        token=settings.codec_server_token.get_secret_value().strip(),
    )


class CodecServerStartError(Exception):
    """The codec server could not listen; the message names the settings to change."""


def _bind(host: str, port: int) -> socket.socket:
    try:
        return bind_socket(host, port)
    except (OSError, ValueError, TypeError, UnicodeError) as exc:  # NUL, over-long label…
        raise CodecServerStartError(
            f"codec server: cannot listen on {host!r}:{port}: "
            f"{getattr(exc, 'strerror', None) or exc} "
            "(set Q2C_CODEC_SERVER_HOST / Q2C_CODEC_SERVER_PORT or --host/--port; port 0 = any)"
        ) from None


class CodecServer:
    """The app served by uvicorn inside the caller's event loop (`q2c codec-server`, `q2c dev`)."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        self.app, self.host, self.port = app, host, port
        self.url = ""
        self._serving = AppServer(app)

    async def start(self) -> str:
        """Listen, and return the base address (`http://host:port`)."""
        sock = _bind(self.host, self.port)
        self.url = await self._serving.start(
            sock, self.host, lambda: CodecServerStartError("codec server: did not start")
        )
        return self.url

    @property
    def stopped(self) -> bool:
        return self._serving.stopped

    async def stop(self) -> None:
        await self._serving.stop()


async def start_local_codec_server(settings: Settings, ui_url: str) -> CodecServer | None:
    """For `q2c dev`: the codec server on Q2C_CODEC_SERVER_HOST/PORT when a key is set (the
    dev server's Web UI at `ui_url` is then pointed at it), else None."""
    codec = codec_from_settings(settings)
    if codec is None:
        return None
    port = urlsplit(ui_url).port
    ui_origins = [ui_url, f"http://localhost:{port}"] if port else [ui_url]
    server = CodecServer(
        app_from_settings(settings, codec, ui_origins),
        settings.codec_server_host,
        settings.codec_server_port,
    )
    await server.start()
    return server
