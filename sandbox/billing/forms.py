"""Decoding of Stripe's form encoding: `metadata[key]=v`, `lines[0][amount]=1`, `expand[]=x`.

The result is a tree of dicts (named and indexed segments) and lists (`[]` appends) with string
leaves; whether a dict with keys `0`, `1`, ... is an array is decided by the parameter that
reads it (`params.Params.items`). Malformed input is a `FormError`, answered with a 400.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")

Tree = dict[str, Any]


class FormError(ValueError):
    """The body or query string is not valid form encoding; `param` names the culprit."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def decode_form(raw: bytes | str) -> Tree:
    """Parse an `application/x-www-form-urlencoded` body or query string into a tree."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FormError("Invalid request: the body is not valid UTF-8.") from None
    if not raw.strip():
        return {}
    if _BAD_ESCAPE.search(raw):
        raise FormError("Invalid request: malformed percent-encoding in the form body.")
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=True, errors="strict")
    except (ValueError, UnicodeDecodeError) as exc:
        raise FormError(f"Invalid request: malformed form encoding ({exc}).") from None
    return build_tree(pairs)


def build_tree(pairs: list[tuple[str, str]]) -> Tree:
    """Nest `(key, value)` pairs; a later scalar for the same key wins, as in Rack."""
    root: Tree = {}
    for key, value in pairs:
        match = _KEY.match(key)
        if match is None:
            raise FormError(f"Invalid parameter name: {key!r}.", param=key)
        path = [match.group(1), *_SEGMENT.findall(match.group(2))]
        _insert(root, path, value, key)
    return root


def _insert(root: Tree, path: list[str], value: str, key: str) -> None:
    node: Any = root
    for depth, segment in enumerate(path):
        last = depth == len(path) - 1
        following = None if last else path[depth + 1]
        if isinstance(node, list):
            if segment != "":
                raise FormError(f"Invalid array: {key!r} mixes [] and [name].", param=key)
            if last:
                node.append(value)
                return
            raise FormError(f"Invalid array: nested [] in {key!r} is not supported.", param=key)
        if segment == "":
            raise FormError(f"Invalid parameter name: {key!r}.", param=key)
        if last:
            if isinstance(node.get(segment), dict | list):
                raise FormError(f"Invalid hash: {key!r} is both a value and a hash.", param=key)
            node[segment] = value
            return
        child = node.get(segment)
        wanted: type = list if following == "" else dict
        if child is None:
            child = node[segment] = wanted()
        elif not isinstance(child, wanted):
            kind = "array" if wanted is list else "hash"
            raise FormError(f"Invalid {kind}: {key!r} conflicts with another value.", param=key)
        node = child
