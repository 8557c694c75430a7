"""Malformed requests get Stripe's error body and a 4xx, never a 500."""

from __future__ import annotations

import base64

import httpx
import pytest

FORM = {"content-type": "application/x-www-form-urlencoded"}


def error_of(response: httpx.Response, status: int) -> dict[str, str]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["type"] and body["error"]["message"]
    return dict(body["error"])


async def customer(api: httpx.AsyncClient) -> str:
    return str((await api.post("/v1/customers", data={"name": "A"})).json()["id"])


async def test_missing_required_param(api: httpx.AsyncClient) -> None:
    error = error_of(await api.post("/v1/products", data={"active": "true"}), 400)
    assert error["code"] == "parameter_missing" and error["param"] == "name"
    assert error["type"] == "invalid_request_error"


async def test_bad_amount_type(api: httpx.AsyncClient) -> None:
    cus = await customer(api)
    form = {"customer": cus, "amount": "12.50", "currency": "eur"}
    error = error_of(await api.post("/v1/invoiceitems", data=form), 400)
    assert error["code"] == "parameter_invalid_integer" and error["param"] == "amount"
    nested = {
        "customer": cus,
        "amount": "100",
        "currency": "eur",
        "period[start]": "soon",
        "period[end]": "1",
    }
    error = error_of(await api.post("/v1/invoiceitems", data=nested), 400)
    assert error["param"] == "period[start]"


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/v1/customers/cus_nope", "customer"),
        ("/v1/invoices/in_nope", "invoice"),
        ("/v1/credit_notes/cn_nope", "credit note"),
    ],
)
async def test_unknown_id_in_the_path_is_404(api: httpx.AsyncClient, path: str, kind: str) -> None:
    error = error_of(await api.get(path), 404)
    assert error["code"] == "resource_missing" and kind in error["message"]


async def test_unknown_id_in_a_param_is_400(api: httpx.AsyncClient) -> None:
    error = error_of(await api.post("/v1/invoices", data={"customer": "cus_nope"}), 400)
    assert error["code"] == "resource_missing" and error["param"] == "customer"


@pytest.mark.parametrize(
    "body",
    [b"name=%zz", b"lines[0=1", b"a=1&&b=2", b"metadata[k]=1&metadata=2", b"name=\xff\xfe"],
)
async def test_bad_form_encoding(api: httpx.AsyncClient, body: bytes) -> None:
    error_of(await api.post("/v1/customers", content=body, headers=FORM), 400)


async def test_json_body_is_refused(api: httpx.AsyncClient) -> None:
    answer = await api.post("/v1/customers", json={"name": "A"})
    assert "Content-Type" in error_of(answer, 400)["message"]


async def test_unknown_param(api: httpx.AsyncClient) -> None:
    error = error_of(await api.post("/v1/customers", data={"nmae": "A"}), 400)
    assert error["code"] == "parameter_unknown" and error["param"] == "nmae"
    cus = await customer(api)
    inv = (await api.post("/v1/invoices", data={"customer": cus})).json()["id"]
    form = {
        "customer": cus,
        "invoice": inv,
        "amount": "5",
        "currency": "usd",
        "period[start]": "1",
        "period[end]": "2",
        "period[middle]": "1",
    }
    error = error_of(await api.post("/v1/invoiceitems", data=form), 400)
    assert error["param"] == "period[middle]"


async def test_bad_enum_boolean_and_empty(api: httpx.AsyncClient) -> None:
    cus = await customer(api)
    error = error_of(
        await api.post("/v1/invoices", data={"customer": cus, "collection_method": "cash"}), 400
    )
    assert error["param"] == "collection_method"
    error = error_of(
        await api.post("/v1/invoices", data={"customer": cus, "auto_advance": "yes"}), 400
    )
    assert error["param"] == "auto_advance"
    error = error_of(await api.post("/v1/products", data={"name": ""}), 400)
    assert error["code"] == "parameter_invalid_empty"
    error = error_of(
        await api.post(
            "/v1/prices", data={"currency": "xyz", "unit_amount": "1", "product_data[name]": "P"}
        ),
        400,
    )
    assert error["param"] == "currency"


async def test_metadata_limits(api: httpx.AsyncClient) -> None:
    error = error_of(await api.post("/v1/customers", data={"metadata[k]": "v" * 501}), 400)
    assert error["param"] == "metadata[k]"
    error = error_of(await api.post("/v1/customers", data={f"metadata[{'k' * 41}]": "v"}), 400)
    assert "40 characters" in error["message"]


async def test_list_params(api: httpx.AsyncClient) -> None:
    error_of(await api.get("/v1/customers", params={"limit": "0"}), 400)
    error_of(await api.get("/v1/customers", params={"limit": "101"}), 400)
    error = error_of(await api.get("/v1/customers", params={"starting_after": "cus_x"}), 400)
    assert error["param"] == "starting_after"


@pytest.mark.parametrize(
    "query",
    [
        "",
        "metadata:'x'",
        "name~'ab'",
        "bogus:'x'",
        "name:'a' AND email:'b' OR name:'c'",
        "name:'a' AND",
        "name:'unterminated",
        "total>'abc'",
    ],
)
async def test_bad_search_queries(api: httpx.AsyncClient, query: str) -> None:
    answer = await api.get("/v1/customers/search", params={"query": query})
    assert error_of(answer, 400)["param"] == "query"


async def test_unknown_urls_and_methods(api: httpx.AsyncClient) -> None:
    assert "Unrecognized request URL" in error_of(await api.get("/v1/charges/x"), 404)["message"]
    error_of(await api.delete("/v1/customers"), 404)
    error_of(await api.get("/nothing"), 404)


async def test_authentication(api: httpx.AsyncClient) -> None:
    url = "/v1/customers"
    missing = await api.get(url, headers={"Authorization": ""})
    assert "did not provide an API key" in error_of(missing, 401)["message"]
    wrong = await api.get(url, headers={"Authorization": "Bearer sk_test_wrong_key_1234"})
    message = error_of(wrong, 401)["message"]
    assert message.endswith("1234") and "wrong_key" not in message
    basic = base64.b64encode(b"sk_test_q2c_sandbox:").decode()
    assert (await api.get(url, headers={"Authorization": f"Basic {basic}"})).status_code == 200
    junk = await api.get(url, headers={"Authorization": "Basic !!!"})
    error_of(junk, 401)


async def test_state_rules_are_400_not_500(api: httpx.AsyncClient) -> None:
    cus = await customer(api)
    inv = (await api.post("/v1/invoices", data={"customer": cus, "currency": "eur"})).json()["id"]
    error_of(await api.post(f"/v1/invoices/{inv}/pay", data={"paid_out_of_band": "true"}), 400)
    error_of(await api.post(f"/v1/invoices/{inv}/void"), 400)
    error_of(await api.post("/v1/credit_notes", data={"invoice": inv, "amount": "1"}), 400)
