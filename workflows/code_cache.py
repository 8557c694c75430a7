"""One copy of the workflow modules' code objects for every sandboxed workflow in a worker.

Temporal's workflow sandbox imports a workflow's module afresh for every workflow it brings
into the worker's cache: the module body runs again (that is the point: no state shared
between workflows), but the standard loader also reads and unmarshals the module's bytecode
again each time, or compiles the source when there is no `.pyc` (PYTHONDONTWRITEBYTECODE=1
and no compiled install). For `workflows/contract.py` that was ~80 KB of code objects per
cached workflow (about 60% of a cached workflow's Python memory) and, without a `.pyc`,
~20 ms of compiling per workflow (docs/PERFORMANCE.md, book start-up and memory).

Code objects are immutable, so every instance can execute the same ones. `install()` puts a
finder first on `sys.meta_path` for the `workflows` package only, whose loader keeps each
module's code object after loading it once; the module body still runs per instance.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Sequence
from types import CodeType, ModuleType

PACKAGE = "workflows"

_codes: dict[tuple[str, str], CodeType] = {}
_lock = threading.Lock()


class _CachedCodeLoader(importlib.machinery.SourceFileLoader):
    """A source loader that loads each module's code object once per process."""

    def get_code(self, fullname: str) -> CodeType:
        key = (fullname, self.path)
        code = _codes.get(key)
        if code is None:
            loaded = super().get_code(fullname)
            assert loaded is not None  # a source file always has code
            with _lock:
                code = _codes.setdefault(key, loaded)
        return code


class WorkflowCodeCache(importlib.abc.MetaPathFinder):
    """Finds the `workflows` package's modules like the path finder, with the caching loader."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != PACKAGE and not fullname.startswith(PACKAGE + "."):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or type(spec.loader) is not importlib.machinery.SourceFileLoader:
            return spec
        spec.loader = _CachedCodeLoader(spec.loader.name, spec.loader.path)
        return spec


def install() -> None:
    """Put the finder first on `sys.meta_path` (once per process)."""
    if not any(isinstance(finder, WorkflowCodeCache) for finder in sys.meta_path):
        sys.meta_path.insert(0, WorkflowCodeCache())


def cached_modules() -> list[str]:
    """The modules whose code is cached (for tests and diagnostics)."""
    return sorted(name for name, _ in _codes)
