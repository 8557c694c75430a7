"""`/v1/payment_intents` and `/v1/invoice_payments`: how invoices were paid (read-only)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sandbox.billing.models import JsonObject
from sandbox.billing.routes.common import list_response
from sandbox.billing.service import Api, Reader

router = APIRouter()


def _list_intents(reader: Reader) -> JsonObject:
    customer = reader.params.identifier("customer")
    return list_response(reader, "payment_intent", "/v1/payment_intents", customer=customer)


def _list_invoice_payments(reader: Reader) -> JsonObject:
    p = reader.params
    invoice = p.identifier("invoice")
    status = p.choice("status", ("canceled", "open", "paid"))
    return list_response(
        reader,
        "invoice_payment",
        "/v1/invoice_payments",
        invoice=invoice,
        where=(lambda o: o["status"] == status) if status else None,
    )


@router.get("/v1/payment_intents")
def list_payment_intents(api: Api) -> JSONResponse:
    return api.read(_list_intents)


@router.get("/v1/payment_intents/{intent_id}")
def retrieve_payment_intent(intent_id: str, api: Api) -> JSONResponse:
    return api.read(lambda r: r.store.require("payment_intent", intent_id))


@router.get("/v1/invoice_payments")
def list_invoice_payments(api: Api) -> JSONResponse:
    return api.read(_list_invoice_payments)


@router.get("/v1/invoice_payments/{payment_id}")
def retrieve_invoice_payment(payment_id: str, api: Api) -> JSONResponse:
    return api.read(lambda r: r.store.require("invoice_payment", payment_id))
