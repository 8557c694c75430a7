"""The local Temporal dev server of `q2c dev`: Web UI, q2c's search attributes, history on disk."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Sequence
from pathlib import Path

from temporalio.common import SearchAttributeIndexedValueType, SearchAttributeKey

from starter.binaries import temporal_cli
from workflows import search_attributes

_CLI_TYPE = {
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}


def search_attribute_args(keys: Sequence[SearchAttributeKey] = search_attributes.ALL) -> list[str]:  # type: ignore[type-arg]
    args: list[str] = []
    for key in keys:
        args += ["--search-attribute", f"{key.name}={_CLI_TYPE[key.indexed_value_type]}"]
    return args


def dev_server_command(
    state_dir: Path, port: int, ui_port: int, ui_codec_endpoint: str | None = None
) -> list[str]:
    codec = ["--ui-codec-endpoint", ui_codec_endpoint] if ui_codec_endpoint else []
    return [
        str(temporal_cli()),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--db-filename",
        str(state_dir / "temporal.db"),
        "--log-level",
        "warn",
        *search_attribute_args(),
        *codec,
    ]


class DevServer:
    """A `temporal server start-dev` child process that is always stopped with its parent."""

    def __init__(
        self, state_dir: Path, port: int, ui_port: int, ui_codec_endpoint: str | None = None
    ) -> None:
        self.state_dir = state_dir
        self.port = port
        self.ui_port = ui_port
        self.ui_codec_endpoint = ui_codec_endpoint  # the UI decrypts payloads through it
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log = (self.state_dir / "temporal.log").open("ab")
        self.process = subprocess.Popen(
            dev_server_command(self.state_dir, self.port, self.ui_port, self.ui_codec_endpoint),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    async def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            await asyncio.to_thread(self.process.wait, timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            await asyncio.to_thread(self.process.wait)
