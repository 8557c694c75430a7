"""Form decoding of nested parameters and the search query language, in isolation."""

from __future__ import annotations

import pytest

from sandbox.billing.errors import StripeError
from sandbox.billing.forms import FormError, decode_form
from sandbox.billing.params import Params
from sandbox.billing.search import FieldKind, parse_query


def test_nested_hashes_arrays_and_appends() -> None:
    body = (
        "metadata[q2c_key]=contract-OPP-1%3Ainvoice%3A2026-03&lines[1][amount]=20"
        "&lines[0][amount]=10&lines[0][metadata][k]=v&expand[]=a&expand[]=b&name=A+B"
    )
    tree = decode_form(body)
    assert tree["metadata"] == {"q2c_key": "contract-OPP-1:invoice:2026-03"}
    assert tree["expand"] == ["a", "b"] and tree["name"] == "A B"
    lines = Params(tree).items("lines")
    assert [line.integer("amount") for line in lines] == [10, 20]
    assert lines[0].nested("metadata") is not None


def test_the_sdks_own_encoding_round_trips() -> None:
    from urllib.parse import urlencode

    from stripe._encode import _api_encode

    params = {
        "lines": [{"type": "custom_line_item", "unit_amount": 5}],
        "metadata": {"a": "b"},
        "paid_out_of_band": True,
    }
    tree = decode_form(urlencode(list(_api_encode(params))))
    assert tree == {
        "lines": {"0": {"type": "custom_line_item", "unit_amount": "5"}},
        "metadata": {"a": "b"},
        "paid_out_of_band": "true",
    }


@pytest.mark.parametrize(
    "body",
    [
        "a[b=1",
        "a]=1",
        "a[]=1&a[x]=2",
        "a[x]=1&a[]=2",
        "a=1&a[b]=2",
        "a[b]=1&a=2",
        "%zz=1",
        "=1",
        "a&b",
    ],
)
def test_malformed_forms(body: str) -> None:
    with pytest.raises(FormError):
        decode_form(body)


def test_sparse_and_unknown_nested_params() -> None:
    params = Params(decode_form("lines[0][amount]=1&lines[0][bogus]=2"))
    params.items("lines")[0].integer("amount")
    with pytest.raises(StripeError, match=r"lines\[0\]\[bogus\]"):
        params.finish()


def test_search_clauses() -> None:
    fields: dict[str, FieldKind] = {"name": "text", "total": "number", "status": "exact"}
    query = parse_query("metadata['q2c_key']:'a:b\\'c' AND -status:'void' AND total>=100", fields)
    assert query.matches({"metadata": {"q2c_key": "a:b'c"}, "status": "open", "total": 100})
    assert not query.matches({"metadata": {"q2c_key": "a:b'c"}, "status": "void", "total": 100})
    assert not query.matches({"metadata": {}, "status": "open", "total": 100})
    either = parse_query('name:"ACME" OR name~"bet"', fields)
    assert either.matches({"name": "acme"}) and either.matches({"name": "Alphabeta"})
    assert parse_query("name:null", fields).matches({"name": None})
