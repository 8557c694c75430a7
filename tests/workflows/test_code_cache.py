"""The worker's code cache: every sandboxed import of a workflow module reuses one code object,
and each import still gets a module of its own (the sandbox's isolation is unchanged)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from typing import Any

import workflows
from workflows import code_cache


def _spec(name: str) -> importlib.machinery.ModuleSpec:
    """The spec the sandbox's import finds (the module is already imported outside it)."""
    spec = code_cache.WorkflowCodeCache().find_spec(name, list(workflows.__path__))
    assert spec is not None and spec.loader is not None
    return spec


def _fresh_module(name: str) -> Any:
    spec = _spec(name)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_workflow_modules_share_code_but_not_state() -> None:
    code_cache.install()
    code_cache.install()  # once only
    assert sum(isinstance(f, code_cache.WorkflowCodeCache) for f in sys.meta_path) == 1
    name = "workflows.search_attributes"
    first, second = _spec(name).loader, _spec(name).loader
    assert first is not second
    assert first.get_code(name) is second.get_code(name)  # type: ignore[union-attr]
    a, b = (
        _fresh_module("workflows.search_attributes"),
        _fresh_module("workflows.search_attributes"),
    )
    assert a is not b and a.ALL is not b.ALL
    assert "workflows.search_attributes" in code_cache.cached_modules()
    # Other packages keep the standard finders.
    assert code_cache.WorkflowCodeCache().find_spec("domain.models", None) is None
