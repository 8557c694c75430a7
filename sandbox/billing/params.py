"""Typed reading of a request's parameters, with Stripe's validation errors.

A handler reads each parameter it knows (`string`, `integer`, `boolean`, `choice`, `metadata`,
`nested`, `items`, ...) and then calls `finish()`, which refuses whatever is left over with
`parameter_unknown`, as Stripe does. Values arrive as strings from form bodies and as JSON
scalars from `/_sandbox/seed`; both are accepted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from babel.numbers import is_currency

from sandbox.billing.errors import StripeError, invalid, missing_param

_INTEGER = re.compile(r"^-?\d+$")
_DECIMAL = re.compile(r"^-?\d+(\.\d{1,12})?$")
METADATA_MAX_KEYS = 50
METADATA_KEY_MAX = 40
METADATA_VALUE_MAX = 500
ALWAYS_ALLOWED = frozenset({"expand"})


class Params:
    """The parameters of one request (or one nested hash of it, named by `prefix`)."""

    def __init__(self, data: Mapping[str, Any], prefix: str = "") -> None:
        self._data = dict(data)
        self._prefix = prefix
        self._seen: set[str] = set()
        self._children: list[Params] = []

    def name(self, key: str) -> str:
        """The parameter's name as the client spelled it, e.g. `lines[0][amount]`."""
        return f"{self._prefix}[{key}]" if self._prefix else key

    def has(self, key: str) -> bool:
        return key in self._data

    def raw(self, key: str) -> Any:
        self._seen.add(key)
        return self._data.get(key)

    def _scalar(self, key: str, *, required: bool, allow_empty: bool = True) -> str | None:
        value = self.raw(key)
        if value is None:
            if required:
                raise missing_param(self.name(key))
            return None
        if isinstance(value, dict | list):
            raise invalid(
                f"Invalid {self.name(key)}: expected a single value, got a hash or an array.",
                param=self.name(key),
            )
        text = value if isinstance(value, str) else _json_scalar(value)
        if text == "":
            if required or not allow_empty:
                raise invalid(
                    f"You passed an empty string for '{self.name(key)}'. We assume empty values "
                    f"are an attempt to unset a parameter; however '{self.name(key)}' cannot be "
                    "unset. You should remove it from your request or supply a non-empty value.",
                    param=self.name(key),
                    code="parameter_invalid_empty",
                )
            return None
        return text

    def string(self, key: str, *, required: bool = False, max_length: int = 5000) -> str | None:
        text = self._scalar(key, required=required)
        if text is not None and len(text) > max_length:
            raise invalid(
                f"Invalid {self.name(key)}: must be at most {max_length} characters.",
                param=self.name(key),
            )
        return text

    def integer(
        self,
        key: str,
        *,
        required: bool = False,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int | None:
        text = self._scalar(key, required=required, allow_empty=False)
        if text is None:
            return None
        if not _INTEGER.match(text):
            raise invalid(
                f"Invalid integer: {text}", param=self.name(key), code="parameter_invalid_integer"
            )
        number = int(text)
        if minimum is not None and number < minimum:
            raise invalid(
                f"Invalid {self.name(key)}: must be greater than or equal to {minimum}",
                param=self.name(key),
            )
        if maximum is not None and number > maximum:
            raise invalid(
                f"Invalid {self.name(key)}: must be less than or equal to {maximum}",
                param=self.name(key),
            )
        return number

    def decimal(self, key: str) -> Decimal | None:
        """A decimal string such as `unit_amount_decimal` (at most 12 decimal places)."""
        text = self._scalar(key, required=False, allow_empty=False)
        if text is None:
            return None
        try:
            if not _DECIMAL.match(text):
                raise InvalidOperation
            return Decimal(text)
        except InvalidOperation:
            raise invalid(f"Invalid decimal: {text}", param=self.name(key)) from None

    def boolean(self, key: str) -> bool | None:
        text = self._scalar(key, required=False, allow_empty=False)
        if text is None:
            return None
        if text in ("true", "false"):
            return text == "true"
        raise invalid(f"Invalid boolean: {text}", param=self.name(key))

    def choice(self, key: str, choices: Iterable[str], *, required: bool = False) -> str | None:
        text = self._scalar(key, required=required, allow_empty=False)
        allowed = list(choices)
        if text is not None and text not in allowed:
            names = ", ".join(f"`{c}`" for c in allowed)
            raise invalid(f"Invalid {self.name(key)}: must be one of {names}", param=self.name(key))
        return text

    def currency(self, key: str = "currency", *, required: bool = False) -> str | None:
        text = self._scalar(key, required=required, allow_empty=False)
        if text is None:
            return None
        if not re.fullmatch(r"[A-Za-z]{3}", text) or not is_currency(text.upper()):
            raise invalid(f"Invalid currency: {text}.", param=self.name(key))
        return text.lower()

    def identifier(self, key: str, *, required: bool = False) -> str | None:
        """An object id or another short token."""
        return self.string(key, required=required, max_length=255)

    def timestamp(self, key: str, *, required: bool = False) -> int | None:
        return self.integer(key, required=required, minimum=0)

    def metadata(self, key: str = "metadata") -> dict[str, str] | None:
        """A metadata hash; an empty string value removes that key (Stripe's unset)."""
        value = self.raw(key)
        if value is None:
            return None
        if value == "":
            return {}
        if not isinstance(value, dict):
            raise invalid(f"Invalid object: {self.name(key)} must be a hash.", param=key)
        if len(value) > METADATA_MAX_KEYS:
            raise invalid(f"Invalid {self.name(key)}: at most {METADATA_MAX_KEYS} keys.", param=key)
        result: dict[str, str] = {}
        for item_key, item_value in value.items():
            param = f"{self.name(key)}[{item_key}]"
            if isinstance(item_value, dict | list):
                raise invalid(f"Invalid {param}: metadata values are strings.", param=param)
            if len(item_key) > METADATA_KEY_MAX:
                raise invalid(
                    f"Metadata keys can have up to {METADATA_KEY_MAX} characters, but you passed "
                    f"in a key that is {len(item_key)} characters. Invalid key: '{item_key}'",
                    param=param,
                )
            text = item_value if isinstance(item_value, str) else _json_scalar(item_value)
            if len(text) > METADATA_VALUE_MAX:
                raise invalid(
                    f"Metadata values can have up to {METADATA_VALUE_MAX} characters, but you "
                    f"passed in a value that is {len(text)} characters.",
                    param=param,
                )
            result[item_key] = text
        return result

    def nested(self, key: str, *, required: bool = False) -> Params | None:
        value = self.raw(key)
        if value is None or value == "":
            if required:
                raise missing_param(self.name(key))
            return None
        if not isinstance(value, dict):
            raise invalid(f"Invalid object: {self.name(key)} must be a hash.", param=key)
        return self._child(value, self.name(key))

    def _child(self, data: Mapping[str, Any], prefix: str) -> Params:
        child = Params(data, prefix)
        self._children.append(child)
        return child

    def items(self, key: str, *, required: bool = False, max_items: int = 250) -> list[Params]:
        """An array of hashes (`lines[0][amount]=...`), in index order."""
        children: list[Params] = []
        for index, entry in enumerate(self._array(key, required=required, max_items=max_items)):
            name = f"{self.name(key)}[{index}]"
            if not isinstance(entry, dict):
                raise invalid(f"Invalid object: {name} must be a hash.", param=name)
            children.append(self._child(entry, name))
        return children

    def strings(self, key: str, *, max_items: int = 100) -> list[str]:
        """An array of scalars (`expand[]=a`, `lookup_keys[0]=b`)."""
        values = self._array(key, required=False, max_items=max_items)
        for index, entry in enumerate(values):
            if not isinstance(entry, str):
                raise invalid(
                    f"Invalid {self.name(key)}[{index}]: expected a string.",
                    param=f"{self.name(key)}[{index}]",
                )
        return list(values)

    def _array(self, key: str, *, required: bool = False, max_items: int = 250) -> list[Any]:
        value = self.raw(key)
        if value is None or value == "":
            if required:
                raise missing_param(self.name(key))
            return []
        if isinstance(value, list):
            entries = value
        elif isinstance(value, dict):
            if not all(k.isdigit() for k in value):
                raise invalid(f"Invalid array: {self.name(key)} must be an array.", param=key)
            entries = [value[k] for k in sorted(value, key=int)]
        else:
            raise invalid(f"Invalid array: {self.name(key)} must be an array.", param=key)
        if len(entries) > max_items:
            raise invalid(
                f"Invalid array: {self.name(key)} has more than {max_items} items.", param=key
            )
        return entries

    def finish(self) -> None:
        """Refuse parameters nobody read, nested ones first (so the name is the deepest)."""
        for child in self._children:
            child.finish()
        for key in self._data:
            if key not in self._seen and key not in ALWAYS_ALLOWED:
                raise StripeError(
                    400,
                    f"Received unknown parameter: {self.name(key)}",
                    param=self.name(key),
                    code="parameter_unknown",
                )


def _json_scalar(value: Any) -> str:
    """A JSON scalar from `/_sandbox/seed` as the string a form body would carry."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
