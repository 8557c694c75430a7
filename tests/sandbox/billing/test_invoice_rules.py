"""Stripe's invoice and credit note rules as the sandbox enforces them."""

from __future__ import annotations

from typing import Any

import httpx

from sandbox.context import SandboxContext


async def post(api: httpx.AsyncClient, path: str, status: int = 200, /, **form: Any) -> Any:
    answer = await api.post(path, data={k: str(v) for k, v in form.items()})
    assert answer.status_code == status, answer.text
    return answer.json()


async def draft(api: httpx.AsyncClient, amounts: list[int], currency: str = "eur") -> Any:
    cus = (await post(api, "/v1/customers", name="Acme"))["id"]
    inv = await post(api, "/v1/invoices", customer=cus, currency=currency)
    for amount in amounts:
        await post(
            api,
            "/v1/invoiceitems",
            customer=cus,
            invoice=inv["id"],
            amount=amount,
            currency=currency,
        )
    return await api.get(f"/v1/invoices/{inv['id']}")


async def test_draft_totals_follow_items_and_only_drafts_take_items(
    api: httpx.AsyncClient,
) -> None:
    inv = (await draft(api, [1000, 250])).json()
    assert (inv["status"], inv["total"], inv["amount_due"], inv["number"]) == (
        "draft",
        1250,
        1250,
        None,
    )
    item = inv["lines"]["data"][0]["parent"]["invoice_item_details"]["invoice_item"]
    await post(api, f"/v1/invoiceitems/{item}", amount=400)
    assert (await api.get(f"/v1/invoices/{inv['id']}")).json()["total"] == 650
    final = await post(api, f"/v1/invoices/{inv['id']}/finalize")
    assert final["status"] == "open" and final["number"].endswith("-0001")
    late = await post(
        api,
        "/v1/invoiceitems",
        400,
        customer=inv["customer"],
        invoice=inv["id"],
        amount=1,
        currency="eur",
    )
    assert late["error"]["code"] == "invoice_not_editable"
    await post(api, f"/v1/invoiceitems/{item}", 400, amount=1)
    await post(api, f"/v1/invoices/{inv['id']}/finalize", 400)
    again = await post(api, f"/v1/invoices/{inv['id']}", **{"metadata[note]": "x"})
    assert again["status"] == "open" and again["metadata"] == {"note": "x"}
    refused = await post(api, f"/v1/invoices/{inv['id']}", 400, effective_at=1)
    assert refused["error"]["code"] == "invoice_not_editable"


async def test_currency_must_match_and_pending_items_are_excluded_by_default(
    api: httpx.AsyncClient,
) -> None:
    cus = (await post(api, "/v1/customers", name="A"))["id"]
    await post(api, "/v1/invoiceitems", customer=cus, amount=700, currency="eur")
    excluded = await post(api, "/v1/invoices", customer=cus, currency="eur")
    assert excluded["total"] == 0
    included = await post(
        api, "/v1/invoices", customer=cus, currency="eur", pending_invoice_items_behavior="include"
    )
    assert included["total"] == 700
    error = await post(
        api, "/v1/invoiceitems", 400, customer=cus, invoice=excluded["id"], amount=1, currency="usd"
    )
    assert error["error"]["param"] == "currency"


async def test_numbers_follow_the_customer_sequence(api: httpx.AsyncClient) -> None:
    cus = (await post(api, "/v1/customers", name="A", invoice_prefix="ACME"))["id"]
    numbers = []
    for _ in range(2):
        inv = await post(api, "/v1/invoices", customer=cus, currency="eur")
        await post(
            api, "/v1/invoiceitems", customer=cus, invoice=inv["id"], amount=5, currency="eur"
        )
        numbers.append((await post(api, f"/v1/invoices/{inv['id']}/finalize"))["number"])
    assert numbers == ["ACME-0001", "ACME-0002"]


async def test_pay_void_and_uncollectible(api: httpx.AsyncClient) -> None:
    first = (await draft(api, [500])).json()
    await post(api, f"/v1/invoices/{first['id']}/finalize")
    voided = await post(api, f"/v1/invoices/{first['id']}/void")
    assert voided["status"] == "void" and voided["status_transitions"]["voided_at"]
    await post(api, f"/v1/invoices/{first['id']}/pay", 400, paid_out_of_band="true")
    second = (await draft(api, [500])).json()
    await post(api, f"/v1/invoices/{second['id']}/finalize")
    paid = await post(api, f"/v1/invoices/{second['id']}/pay", paid_out_of_band="true")
    assert paid["amount_paid"] == 500 and paid["amount_paid_off_stripe"] == 500
    assert (
        "already paid"
        in (await post(api, f"/v1/invoices/{second['id']}/pay", 400, paid_out_of_band="true"))[
            "error"
        ]["message"]
    )
    await post(api, f"/v1/invoices/{second['id']}/void", 400)
    third = (await draft(api, [500])).json()
    await post(api, f"/v1/invoices/{third['id']}/finalize")
    bad = await post(api, f"/v1/invoices/{third['id']}/mark_uncollectible")
    assert bad["status"] == "uncollectible"
    assert (await post(api, f"/v1/invoices/{third['id']}/void"))["status"] == "void"
    no_method = await post(api, f"/v1/invoices/{(await draft(api, [1])).json()['id']}/pay", 400)
    assert no_method["error"]["type"] == "invalid_request_error"


async def test_a_zero_invoice_is_paid_when_finalized(api: httpx.AsyncClient) -> None:
    inv = (await draft(api, [])).json()
    final = await post(api, f"/v1/invoices/{inv['id']}/finalize")
    assert final["status"] == "paid" and final["amount_due"] == 0


async def test_credit_notes_never_exceed_the_invoice(api: httpx.AsyncClient) -> None:
    inv = (await draft(api, [1000, 500])).json()
    await post(api, f"/v1/invoices/{inv['id']}/finalize")
    line = inv["lines"]["data"][1]["id"]
    over_line = await post(
        api,
        "/v1/credit_notes",
        400,
        **{
            "invoice": inv["id"],
            "lines[0][type]": "invoice_line_item",
            "lines[0][invoice_line_item]": line,
            "lines[0][amount]": 501,
        },
    )
    assert "left to credit" in over_line["error"]["message"]
    first = await post(api, "/v1/credit_notes", invoice=inv["id"], amount=300)
    assert (first["type"], first["total"], first["pre_payment_amount"]) == ("pre_payment", 300, 300)
    after = (await api.get(f"/v1/invoices/{inv['id']}")).json()
    assert (after["amount_due"], after["amount_remaining"], after["status"]) == (1200, 1200, "open")
    over = await post(api, "/v1/credit_notes", 400, invoice=inv["id"], amount=1201)
    assert over["error"]["param"] == "amount"
    mismatch = await post(
        api,
        "/v1/credit_notes",
        400,
        **{
            "invoice": inv["id"],
            "amount": 10,
            "lines[0][type]": "custom_line_item",
            "lines[0][unit_amount]": 11,
            "lines[0][description]": "x",
        },
    )
    assert mismatch["error"]["param"] == "amount"
    rest = await post(
        api,
        "/v1/credit_notes",
        **{
            "invoice": inv["id"],
            "lines[0][type]": "custom_line_item",
            "lines[0][unit_amount]": 1200,
            "lines[0][description]": "the rest",
        },
    )
    assert rest["number"].endswith("-CN-02")
    closed = (await api.get(f"/v1/invoices/{inv['id']}")).json()
    assert (closed["status"], closed["amount_remaining"]) == ("paid", 0)
    await post(api, "/v1/credit_notes", 400, invoice=inv["id"], amount=1)
    voided = await post(api, f"/v1/credit_notes/{first['id']}/void", 400)
    assert "open" in voided["error"]["message"]


async def test_credit_on_a_paid_invoice_goes_to_the_balance_and_the_next_invoice(
    api: httpx.AsyncClient,
) -> None:
    inv = (await draft(api, [1000])).json()
    await post(api, f"/v1/invoices/{inv['id']}/finalize")
    await post(api, f"/v1/invoices/{inv['id']}/pay", paid_out_of_band="true")
    split = await post(
        api, "/v1/credit_notes", 400, invoice=inv["id"], amount=400, credit_amount=100
    )
    assert "must equal" in split["error"]["message"]
    refund = await post(
        api, "/v1/credit_notes", 400, invoice=inv["id"], amount=400, refund_amount=400
    )
    assert refund["error"]["param"] == "refund_amount"  # paid out of band: nothing to refund
    note = await post(api, "/v1/credit_notes", invoice=inv["id"], amount=400)
    assert note["type"] == "post_payment" and note["customer_balance_transaction"]
    customer = (await api.get(f"/v1/customers/{inv['customer']}")).json()
    assert customer["balance"] == -400
    nxt = await post(api, "/v1/invoices", customer=inv["customer"], currency="eur")
    await post(
        api,
        "/v1/invoiceitems",
        customer=inv["customer"],
        invoice=nxt["id"],
        amount=1000,
        currency="eur",
    )
    final = await post(api, f"/v1/invoices/{nxt['id']}/finalize")
    assert (final["total"], final["starting_balance"], final["amount_due"]) == (1000, -400, 600)
    voided = await post(api, f"/v1/credit_notes/{note['id']}/void")
    assert voided["status"] == "void"


async def test_many_lines_are_paged(api: httpx.AsyncClient) -> None:
    inv = (await draft(api, list(range(1, 13)))).json()
    assert len(inv["lines"]["data"]) == 10 and inv["lines"]["has_more"]
    assert inv["lines"]["total_count"] == 12 and inv["total"] == 78
    page = (
        await api.get(
            f"/v1/invoices/{inv['id']}/lines",
            params={"starting_after": inv["lines"]["data"][9]["id"]},
        )
    ).json()
    assert [line["amount"] for line in page["data"]] == [11, 12] and not page["has_more"]


async def test_created_timestamps_come_from_the_sandbox_clock(
    api: httpx.AsyncClient, billing_ctx: SandboxContext
) -> None:
    billing_ctx.clock.advance(10 * 86400)
    now = int(billing_ctx.clock.now().timestamp())
    created = (await post(api, "/v1/customers", name="Later"))["created"]
    assert abs(created - now) <= 2
