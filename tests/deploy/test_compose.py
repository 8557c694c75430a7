"""docker-compose.yml, checked structurally without a Docker engine (issue 9).

Services and start-up order, pinned images, health checks and `depends_on` conditions, host
ports, every setting the code reads set in the stack or documented, the search attributes the
one-shot registers, and the support files under deploy/ (Prometheus, the Temporal client
profiles example).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from dotenv import dotenv_values
from temporalio.envconfig import ClientConfig, ClientConfigProfile
from temporalio.service import TLSConfig

from adapters.settings import Settings
from workflows import search_attributes

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
DEPLOY = REPO / "deploy"
DEPLOYMENT_DOC = REPO / "docs" / "DEPLOYMENT.md"

# Service → what it is. One-shots run to completion; the others stay up.
ONE_SHOTS = {"temporal-schema", "ledger-schema", "temporal-namespace", "search-attributes"}
LONG_RUNNING = {
    "postgres",
    "temporal",
    "temporal-ui",
    "worker",
    "webhook",
    "sandbox",
    "codec",
    "prometheus",
    "grafana",
}
# Behind a profile: optional (sandbox, codec, metrics: Prometheus and Grafana).
PROFILES = {"sandbox": ["sandbox"], "codec": ["codec"], "prometheus": ["metrics"]}
PROFILES["grafana"] = ["metrics"]
NO_HEALTHCHECK: set[str] = set()
Q2C_SERVICES = {"worker", "webhook", "sandbox", "codec", "ledger-schema"}

# Every variable temporalio.envconfig reads (TEMPORAL_GRPC_META_<NAME> is a family).
ENVCONFIG_VARIABLES = {
    "TEMPORAL_CONFIG_FILE": None,
    "TEMPORAL_PROFILE": None,
    "TEMPORAL_ADDRESS": "address",
    "TEMPORAL_NAMESPACE": "namespace",
    "TEMPORAL_API_KEY": "api_key",
    "TEMPORAL_TLS": "tls",
    "TEMPORAL_TLS_CLIENT_CERT_PATH": "tls",
    "TEMPORAL_TLS_CLIENT_CERT_DATA": "tls",
    "TEMPORAL_TLS_CLIENT_KEY_PATH": "tls",
    "TEMPORAL_TLS_CLIENT_KEY_DATA": "tls",
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH": "tls",
    "TEMPORAL_TLS_SERVER_CA_CERT_DATA": "tls",
    "TEMPORAL_TLS_SERVER_NAME": "tls",
    "TEMPORAL_GRPC_META_*": "grpc_meta",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment: its env files in order, then `environment` (which wins)."""
    values: dict[str, str] = {}
    for entry in service.get("env_file", []):
        path = REPO / (entry["path"] if isinstance(entry, dict) else entry)
        if path.exists():
            values.update({k: v or "" for k, v in dotenv_values(path).items()})
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    values.update({k: str(v) for k, v in env.items()})
    return values


def image_reference(image: str) -> tuple[str, str, str | None]:
    """`name:tag@sha256:digest` → (name, tag, digest)."""
    reference, _, digest = image.partition("@")
    name, _, tag = reference.rpartition(":")
    return name, tag, digest or None


def settings_variables() -> set[str]:
    return {f"Q2C_{name.upper()}" for name in Settings.model_fields}


def test_every_service_is_there_with_its_profile(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == ONE_SHOTS | LONG_RUNNING
    for name, service in services.items():
        assert service.get("profiles") == PROFILES.get(name), name


def test_temporal_follows_the_server_plus_admin_tools_setup(
    services: dict[str, dict[str, Any]],
) -> None:
    """temporalio/server, its schema by a one-shot temporalio/admin-tools; no auto-setup image."""
    for name, service in services.items():
        assert "auto-setup" not in str(service.get("image", "")), name
    server, _, _ = image_reference(services["temporal"]["image"])
    assert server == "temporalio/server"
    _, server_version, _ = image_reference(services["temporal"]["image"])
    for one_shot in ONE_SHOTS - {"ledger-schema"}:
        tools, version, _ = image_reference(services[one_shot]["image"])
        assert tools == "temporalio/admin-tools", one_shot
        assert version == server_version, f"{one_shot}: admin-tools and server versions differ"
    schema = services["temporal-schema"]
    assert schema["environment"]["SQL_PLUGIN"] == services["temporal"]["environment"]["DB"]
    assert services["temporal"]["environment"]["DB"] == "postgres12"


def test_images_are_pinned(services: dict[str, dict[str, Any]]) -> None:
    """Exact versions, never `latest`; q2c's own services are built from the Dockerfile."""
    for name, service in services.items():
        image = service["image"]
        assert "latest" not in image, name
        if name in Q2C_SERVICES:
            assert image == "q2c:local" and service["build"]["context"] == ".", name
            continue
        _, tag, digest = image_reference(image)
        assert re.fullmatch(r"v?\d+(\.\d+){1,2}(-[a-z0-9]+)?", tag), f"{name}: {image}"
        if name == "postgres":  # a Docker official image: its published digest too
            assert digest and re.fullmatch(r"sha256:[0-9a-f]{64}", digest), image


def test_start_up_order(services: dict[str, dict[str, Any]]) -> None:
    """depends_on names real services with a condition each; one-shots must have completed,
    long-running services must be healthy (so they need a health check)."""
    for name, service in services.items():
        for target, spec in service.get("depends_on", {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            condition = spec["condition"]
            if target in ONE_SHOTS:
                assert condition == "service_completed_successfully", (name, target)
            else:
                assert condition == "service_healthy", (name, target)
                assert "healthcheck" in services[target], target
            assert not services[target].get("profiles") or service.get("profiles"), (
                f"{name} (always on) depends on {target}, which only runs with a profile"
            )

    def needs(name: str) -> set[str]:
        found: set[str] = set()
        for target in services[name].get("depends_on", {}):
            found |= {target} | needs(target)
        return found

    assert needs("temporal") >= {"postgres", "temporal-schema"}
    assert needs("search-attributes") >= {"temporal", "temporal-namespace"}
    for q2c in ("worker", "webhook"):
        assert needs(q2c) >= {"postgres", "ledger-schema", "search-attributes"}, q2c
    assert "temporal" in needs("worker")


def test_health_checks(services: dict[str, dict[str, Any]]) -> None:
    for name in LONG_RUNNING - NO_HEALTHCHECK:
        check = services[name].get("healthcheck")
        assert check and check["test"] and check["test"][0] in {"CMD", "CMD-SHELL"}, name
        assert "interval" in check and "retries" in check, name
    for name in ONE_SHOTS:
        assert services[name].get("restart") == "no", name
        assert "healthcheck" not in services[name], name
    # The q2c image's check script is the one under deploy/, copied by the Dockerfile.
    for name in ("worker", "webhook"):
        assert services[name]["healthcheck"]["test"][2] == "/opt/q2c/share/healthcheck.py"
        assert services[name]["healthcheck"]["test"][3] == name


def test_workers_scale_and_ports_do_not_clash(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    assert "container_name" not in worker and "ports" not in worker, "--scale worker=N"
    assert worker["command"] == ["worker"]
    published: dict[str, str] = {}
    for name, service in services.items():
        assert "container_name" not in service, name
        for mapping in service.get("ports", []):
            parts = str(mapping).split(":")
            host = ":".join(parts[:-1])
            assert host not in published, f"{name} and {published.get(host)} both publish {host}"
            published[host] = name
    assert published["127.0.0.1:7233"] == "temporal"
    assert published["127.0.0.1:8080"] == "temporal-ui"
    assert published["8704"] == "webhook"
    assert "ports" not in services["postgres"], "the database stays inside the stack"
    assert services["webhook"]["environment"]["Q2C_WEBHOOK_PORT"] == "8704"


def test_bind_mounts_and_env_files_exist(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{name}: {source} is missing"
        for entry in service.get("env_file", []):
            if entry.get("required", True):
                assert (REPO / entry["path"]).exists(), f"{name}: {entry['path']}"
    ignored = (DEPLOY / ".gitignore").read_text().split()
    assert "q2c.env" in ignored, "a deployment's secrets file must stay out of git"


def test_every_setting_is_set_or_documented(services: dict[str, dict[str, Any]]) -> None:
    """Each Q2C_* setting and each variable envconfig reads: set for the q2c containers, or
    named in docs/DEPLOYMENT.md."""
    documented = DEPLOYMENT_DOC.read_text()
    set_in_stack: set[str] = set()
    for name in ("worker", "webhook"):
        set_in_stack |= set(environment(services[name]))
    for variable in sorted(settings_variables() | set(ENVCONFIG_VARIABLES)):
        assert variable in set_in_stack or variable in documented, (
            f"{variable} is neither set in docker-compose.yml/deploy/stack.env nor documented "
            "in docs/DEPLOYMENT.md"
        )
    # The worker and the webhook receiver must at least know where everything is.
    for name in ("worker", "webhook"):
        env = environment(services[name])
        for variable in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "Q2C_DATABASE_URL"):
            assert env.get(variable), f"{name}: {variable}"
        assert env["Q2C_DATABASE_URL"].startswith("postgresql://"), name
        assert env["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_stack_env_is_valid_settings() -> None:
    """deploy/stack.env names only real settings, with values the settings accept, and no
    empty TEMPORAL_* value (envconfig would take an empty API key as a key and turn TLS on)."""
    values = {k: v or "" for k, v in dotenv_values(DEPLOY / "stack.env").items()}
    known = settings_variables() | set(ENVCONFIG_VARIABLES)
    for variable, value in values.items():
        assert variable in known, f"deploy/stack.env: unknown {variable}"
        if variable.startswith("TEMPORAL_"):
            assert value, f"deploy/stack.env: {variable} is empty"
    fields = {k.removeprefix("Q2C_").lower(): v for k, v in values.items() if k.startswith("Q2C_")}
    settings = Settings(_env_file=None, **fields)  # type: ignore[arg-type]
    assert settings.task_queue == "q2c-contracts"
    ledger_password = values["Q2C_DATABASE_URL"].split(":")[2].split("@")[0]
    compose_text = COMPOSE.read_text()
    assert f"Q2C_LEDGER_PASSWORD:-{ledger_password}}}" in compose_text, (
        "the ledger password in deploy/stack.env and docker-compose.yml's default differ"
    )


def test_deployment_examples_name_real_variables() -> None:
    known = settings_variables() | set(ENVCONFIG_VARIABLES)
    text = (DEPLOY / "q2c.env.example").read_text()
    for variable in re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE):
        assert variable in known, f"deploy/q2c.env.example: unknown {variable}"


def test_envconfig_reads_the_variables_we_document() -> None:
    """The list above is what envconfig really reads: each variable changes the profile."""
    base = {"TEMPORAL_ADDRESS": "temporal:7233"}
    plain = ClientConfigProfile.load(override_env_vars=base, disable_file=True)
    changes = {
        "TEMPORAL_NAMESPACE": "ns",
        "TEMPORAL_API_KEY": "key",
        "TEMPORAL_TLS": "true",
        "TEMPORAL_TLS_CLIENT_CERT_PATH": "/c.pem",
        "TEMPORAL_TLS_CLIENT_CERT_DATA": "pem",
        "TEMPORAL_TLS_CLIENT_KEY_PATH": "/k.pem",
        "TEMPORAL_TLS_CLIENT_KEY_DATA": "pem",
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH": "/ca.pem",
        "TEMPORAL_TLS_SERVER_CA_CERT_DATA": "pem",
        "TEMPORAL_TLS_SERVER_NAME": "sni",
        "TEMPORAL_GRPC_META_TENANT": "acme",
    }
    for variable, value in changes.items():
        family = (
            variable if not variable.startswith("TEMPORAL_GRPC_META_") else ("TEMPORAL_GRPC_META_*")
        )
        attribute = ENVCONFIG_VARIABLES[family]
        assert attribute is not None
        profile = ClientConfigProfile.load(
            override_env_vars={**base, variable: value}, disable_file=True
        )
        assert getattr(profile, attribute) != getattr(plain, attribute), variable


def test_temporal_profiles_example_loads(tmp_path: Path) -> None:
    """deploy/temporal.toml.example is a valid envconfig file (strict), and each profile
    connects the way its comment says: plain, API key (TLS on), mTLS, private CA."""
    example = DEPLOY / "temporal.toml.example"
    tomllib.loads(example.read_text())
    config = ClientConfig.load(config_source=example, config_file_strict=True)
    assert set(config.profiles) == {"default", "cloud-api-key", "cloud-mtls", "self-hosted-tls"}
    plain = config.profiles["default"].to_client_connect_config()
    assert plain == {"target_host": "temporal:7233", "namespace": "default"}
    api_key = config.profiles["cloud-api-key"].to_client_connect_config()
    assert api_key["tls"] is True and api_key["target_host"].endswith(".api.temporal.io:7233")
    mtls = config.profiles["cloud-mtls"]
    assert mtls.tls is not None and mtls.api_key is None
    assert str(mtls.tls.client_cert).endswith(".pem") and mtls.address
    assert mtls.address.endswith(".tmprl.cloud:7233")
    # Selected through the environment, as the worker selects it; the environment wins.
    profile = ClientConfigProfile.load(
        override_env_vars={
            "TEMPORAL_CONFIG_FILE": str(example),
            "TEMPORAL_PROFILE": "cloud-mtls",
            "TEMPORAL_NAMESPACE": "other.a1b2c",
        }
    )
    assert profile.namespace == "other.a1b2c" and profile.address == mtls.address
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("cert")
    key.write_text("key")
    tls = ClientConfigProfile.load(
        override_env_vars={
            "TEMPORAL_CONFIG_FILE": str(example),
            "TEMPORAL_PROFILE": "cloud-mtls",
            "TEMPORAL_TLS_CLIENT_CERT_PATH": str(cert),
            "TEMPORAL_TLS_CLIENT_KEY_PATH": str(key),
        }
    ).to_client_connect_config()["tls"]
    assert isinstance(tls, TLSConfig)
    assert (tls.client_cert, tls.client_private_key) == (b"cert", b"key")


def test_search_attribute_registration_matches_the_code() -> None:
    """The one-shot registers exactly workflows/search_attributes.py's keys and types."""
    script = (DEPLOY / "temporal" / "register-search-attributes.sh").read_text()
    block = script.split('ATTRIBUTES="', 1)[1].split('"', 1)[0]
    registered = dict(line.split(":") for line in block.split())
    cli_type = {"KEYWORD": "Keyword", "DATETIME": "Datetime", "DOUBLE": "Double"}
    expected = {key.name: cli_type[key.indexed_value_type.name] for key in search_attributes.ALL}
    assert registered == expected


def test_temporal_ui_codec_and_metrics_are_wired(services: dict[str, dict[str, Any]]) -> None:
    ui = services["temporal-ui"]["environment"]
    assert "TEMPORAL_CODEC_ENDPOINT" in ui and ui["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert services["codec"]["ports"] == ["127.0.0.1:8081:8081"]
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    assert set(jobs) == {"temporal-server", "q2c-worker"}
    port = services["temporal"]["environment"]["PROMETHEUS_ENDPOINT"].rsplit(":", 1)[1]
    assert jobs["temporal-server"]["static_configs"] == [{"targets": [f"temporal:{port}"]}]
    # Every worker replica, found by Docker's DNS, on the port its metrics listen on.
    bind = environment(services["worker"])["Q2C_METRICS_BIND"]
    assert bind.startswith("0.0.0.0:"), "the worker's metrics must be reachable from Prometheus"
    (workers,) = jobs["q2c-worker"]["dns_sd_configs"]
    assert workers["names"] == ["worker"] and workers["type"] == "A"
    assert str(workers["port"]) == bind.rsplit(":", 1)[1]
    assert "ports" not in services["worker"], "metrics stay inside the stack"
    dynamic = yaml.safe_load((DEPLOY / "temporal" / "dynamicconfig" / "q2c.yaml").read_text())
    path = services["temporal"]["environment"]["DYNAMIC_CONFIG_FILE_PATH"]
    assert path.endswith("/q2c.yaml") and dynamic["frontend.enableUpdateWorkflowExecution"]
    doc = DEPLOYMENT_DOC.read_text()
    assert "dashboard and alerts: issue 7" not in doc, "metrics and the dashboard exist now"
    assert "not implemented — issue 8" not in doc and "issue 8 lands" not in doc
    codec = services["codec"]
    assert codec["command"] == ["codec-server", "--host", "0.0.0.0", "--port", "8081"]
    origins = environment(codec)["Q2C_CODEC_SERVER_ORIGINS"]
    assert "http://localhost:8080" in origins, "the stack's UI (8080) must be an allowed origin"
