"""The billing adapter: q2c's calls to a Stripe-shaped billing platform, each effect exactly once.

It uses the official `stripe` SDK (async, over httpx) with the SDK's own retries off, because
Temporal retries activities. Every create carries q2c's key twice (DESIGN.md §4):

- as Stripe's `Idempotency-Key`, so a retried call returns the first call's answer; and
- in the created object's metadata (`q2c_key`), where the adapter searches *before* creating,
  so an effect is found after Stripe has forgotten the key (24 hours) or when a worker died
  between the call and the ledger record.

The two complement each other: Stripe's search index may lag writes (under a minute, up to an
hour during incidents), which is exactly when the idempotency key is still remembered. An invoice
is built in steps (draft → its items → finalize), each step keyed and each skipped when already
done, so a retry after a partial failure completes the same invoice instead of starting another.
Finding an earlier effect whose content differs from the request is an
`IdempotencyConflictError`: the same key was used for a different request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TypeVar

import httpx
import stripe
from stripe.params import (
    CreditNoteCreateParams,
    CreditNoteCreateParamsLine,
    CustomerCreateParams,
    InvoiceCreateParams,
    InvoiceItemCreateParams,
    PriceCreateParams,
    ProductCreateParams,
)

from adapters.billing import records
from adapters.billing.failures import SYSTEM, InvalidWebhookError, translate
from adapters.billing.money import (
    from_minor_units,
    stripe_currency,
    to_minor_units,
    unit_amount_minor,
)
from adapters.billing.records import (
    BillingCreditNote,
    BillingCustomer,
    BillingEvent,
    BillingInvoice,
    BillingPrice,
    BillingProduct,
    CreditLine,
    InvoiceLine,
)
from adapters.errors import BusinessError, IdempotencyConflictError
from adapters.settings import Settings

T = TypeVar("T", bound=stripe.StripeObject)

MAX_KEY_LENGTH = 255  # Stripe's limit on Idempotency-Key (metadata values allow 500)
DEFAULT_DAYS_UNTIL_DUE = 30
PAGE_SIZE = 100


def stored_key(key: str) -> str:
    """The key as sent to Stripe: unchanged, or shortened with a digest when over 255 chars."""
    if len(key) <= MAX_KEY_LENGTH:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{key[: MAX_KEY_LENGTH - len(digest) - 1]}#{digest}"


def search_literal(value: str) -> str:
    """A value quoted for Stripe's search query language."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _metadata(obj: stripe.StripeObject) -> dict[str, str]:
    return {str(k): str(v) for k, v in (obj.to_dict().get("metadata") or {}).items()}


def day_start(day: date) -> int:
    """Midnight UTC of a business date, as a Unix timestamp."""
    return int(datetime.combine(day, time(), UTC).timestamp())


class BillingAdapter:
    """Async client of the billing platform; one per worker, closed with `aclose()`."""

    def __init__(
        self,
        settings: Settings,
        *,
        max_network_retries: int = 0,
        webhook_tolerance_seconds: int = stripe.Webhook.DEFAULT_TOLERANCE,
        http_client: stripe.HTTPClient | None = None,
    ) -> None:
        seconds = settings.http_timeout_seconds
        self._http = http_client or stripe.HTTPXClient(
            timeout=httpx.Timeout(seconds, connect=min(seconds, 5.0))
        )
        self._stripe = stripe.StripeClient(
            settings.billing_api_key,
            base_addresses={"api": settings.billing_url.rstrip("/")},
            http_client=self._http,
            max_network_retries=max_network_retries,
        )
        self._webhook_secret = settings.billing_webhook_secret
        self._tolerance = webhook_tolerance_seconds

    async def aclose(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]  # untyped in the SDK

    async def __aenter__(self) -> BillingAdapter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # --- plumbing -------------------------------------------------------------------------

    @staticmethod
    async def _call(request: Awaitable[T]) -> T:
        try:
            return await request
        except stripe.StripeError as exc:
            raise translate(exc) from exc

    @staticmethod
    def _options(key: str) -> stripe.RequestOptions:
        return {"idempotency_key": stored_key(key)}

    async def _pages(
        self, fetch: Callable[[str | None], Awaitable[stripe.ListObject[T]]]
    ) -> list[T]:
        """Every object of a list, following `starting_after`."""
        found: list[T] = []
        cursor: str | None = None
        while True:
            page = await self._call(fetch(cursor))
            found.extend(page.data)
            if not page.has_more or not page.data:
                return found
            cursor = str(page.data[-1]["id"])

    async def _search(
        self,
        fetch: Callable[[str, str | None], Awaitable[stripe.SearchResultObject[T]]],
        query: str,
    ) -> list[T]:
        """Every search result, following `next_page`, oldest first."""
        found: list[T] = []
        page_token: str | None = None
        while True:
            page = await self._call(fetch(query, page_token))
            found.extend(page.data)
            if not page.has_more or not page.next_page:
                break
            page_token = page.next_page
        return sorted(found, key=lambda o: (int(o["created"] or 0), str(o["id"])))

    async def _search_key(
        self,
        fetch: Callable[[str, str | None], Awaitable[stripe.SearchResultObject[T]]],
        key: str,
    ) -> T | None:
        """The earliest object carrying `q2c_key` = key, if any."""
        query = f"metadata[{search_literal(records.KEY)}]:{search_literal(stored_key(key))}"
        found = await self._search(fetch, query)
        return found[0] if found else None

    def _search_customers(
        self, query: str, page: str | None
    ) -> Awaitable[stripe.SearchResultObject[stripe.Customer]]:
        params: stripe.params.CustomerSearchParams = {"query": query, "limit": PAGE_SIZE}
        if page:
            params["page"] = page
        return self._stripe.v1.customers.search_async(params)

    def _search_products(
        self, query: str, page: str | None
    ) -> Awaitable[stripe.SearchResultObject[stripe.Product]]:
        params: stripe.params.ProductSearchParams = {"query": query, "limit": PAGE_SIZE}
        if page:
            params["page"] = page
        return self._stripe.v1.products.search_async(params)

    def _search_prices(
        self, query: str, page: str | None
    ) -> Awaitable[stripe.SearchResultObject[stripe.Price]]:
        params: stripe.params.PriceSearchParams = {"query": query, "limit": PAGE_SIZE}
        if page:
            params["page"] = page
        return self._stripe.v1.prices.search_async(params)

    def _search_invoices(
        self, query: str, page: str | None
    ) -> Awaitable[stripe.SearchResultObject[stripe.Invoice]]:
        params: stripe.params.InvoiceSearchParams = {"query": query, "limit": PAGE_SIZE}
        if page:
            params["page"] = page
        return self._stripe.v1.invoices.search_async(params)

    @staticmethod
    def _conflict(key: str, what: str) -> IdempotencyConflictError:
        return IdempotencyConflictError(
            SYSTEM,
            f"key {key!r} already made {what}; a different request needs a different key",
            code="idempotency_conflict",
        )

    # --- customers, products, prices ------------------------------------------------------

    async def ensure_customer(
        self,
        *,
        key: str,
        account_id: str,
        name: str,
        currency: str,
        email: str | None = None,
    ) -> BillingCustomer:
        """The customer of a Salesforce account: found by its key, or created once.

        Stripe customers have no currency of their own until their first invoice; the currency
        of the contract that created the customer is kept in metadata (`q2c_currency`).
        """
        found = await self._search_key(self._search_customers, key)
        if found is not None:
            customer = records.customer_from(found)
            if customer.account_id != account_id:
                raise self._conflict(key, f"customer {customer.id} for {customer.account_id}")
            return customer
        params: CustomerCreateParams = {
            "name": name,
            "metadata": {
                records.KEY: stored_key(key),
                records.ACCOUNT_ID: account_id,
                "q2c_currency": stripe_currency(currency).upper(),
            },
        }
        if email:
            params["email"] = email
        created = await self._call(
            self._stripe.v1.customers.create_async(params, self._options(key))
        )
        return records.customer_from(created)

    async def ensure_product(
        self, *, key: str, code: str, name: str, description: str | None = None
    ) -> BillingProduct:
        """The billing product of a q2c product code: found by its key, or created once."""
        found = await self._search_key(self._search_products, key)
        if found is not None:
            product = records.product_from(found)
            if product.code != code:
                raise self._conflict(key, f"product {product.id} for code {product.code}")
            return product
        params: ProductCreateParams = {
            "name": name,
            "metadata": {records.KEY: stored_key(key), records.PRODUCT_CODE: code},
        }
        if description:
            params["description"] = description
        created = await self._call(
            self._stripe.v1.products.create_async(params, self._options(key))
        )
        return records.product_from(created)

    async def ensure_price(
        self,
        *,
        key: str,
        product_id: str,
        product_code: str,
        currency: str,
        unit_amount: Decimal,
        recurring_interval: str | None = None,
    ) -> BillingPrice:
        """A price of a product in one currency; `unit_amount` may be finer than minor units.

        Prices are immutable in Stripe: a different amount needs a new key (and a new price).
        """
        minor = unit_amount_minor(unit_amount, currency)
        found = await self._search_key(self._search_prices, key)
        if found is not None:
            price = records.price_from(found)
            if (price.product_id, price.currency, price.unit_amount) != (
                product_id,
                currency.upper(),
                unit_amount.normalize(),
            ):
                raise self._conflict(
                    key, f"price {price.id} of {price.unit_amount} {price.currency}"
                )
            return price
        params: PriceCreateParams = {
            "currency": stripe_currency(currency),
            "product": product_id,
            "metadata": {records.KEY: stored_key(key), records.PRODUCT_CODE: product_code},
        }
        if minor == minor.to_integral_value():
            params["unit_amount"] = int(minor)
        else:
            params["unit_amount_decimal"] = minor
        if recurring_interval:
            params["recurring"] = {"interval": recurring_interval}
        created = await self._call(self._stripe.v1.prices.create_async(params, self._options(key)))
        return records.price_from(created)

    async def find_product(self, key: str) -> BillingProduct | None:
        """The product an earlier `ensure_product` with this key made, if any."""
        found = await self._search_key(self._search_products, key)
        return records.product_from(found) if found is not None else None

    async def update_product(
        self, product_id: str, *, name: str | None = None, active: bool | None = None
    ) -> BillingProduct:
        """Rename and/or (re)activate a product (what is not passed stays as it is).

        Setting a value is idempotent by nature, so no idempotency key: a remembered key would
        answer a later A → B → A rename with the first answer instead of renaming.
        """
        params: stripe.params.ProductUpdateParams = {}
        if name is not None:
            params["name"] = name
        if active is not None:
            params["active"] = active
        updated = await self._call(self._stripe.v1.products.update_async(product_id, params))
        return records.product_from(updated)

    async def list_prices(self, product_id: str) -> list[BillingPrice]:
        """Every price of a product, active or not, oldest first (a list, not search: consistent
        right after a create)."""

        def fetch(cursor: str | None) -> Awaitable[stripe.ListObject[stripe.Price]]:
            params: stripe.params.PriceListParams = {"product": product_id, "limit": PAGE_SIZE}
            if cursor:
                params["starting_after"] = cursor
            return self._stripe.v1.prices.list_async(params)

        prices = await self._pages(fetch)
        ordered = sorted(prices, key=lambda p: (int(p["created"] or 0), str(p["id"])))
        return [records.price_from(price) for price in ordered]

    async def set_price_active(self, price_id: str, active: bool) -> BillingPrice:
        """Archive (or reactivate) a price: Stripe prices are immutable but for `active`."""
        params: stripe.params.PriceUpdateParams = {"active": active}
        updated = await self._call(self._stripe.v1.prices.update_async(price_id, params))
        return records.price_from(updated)

    # --- invoices --------------------------------------------------------------------------

    async def find_invoice(self, key: str) -> BillingInvoice | None:
        """The invoice an earlier `create_invoice` with this key made, in whatever state."""
        found = await self._search_key(self._search_invoices, key)
        return await self._complete(found) if found is not None else None

    async def get_invoice(self, invoice_id: str) -> BillingInvoice:
        """An invoice with all its lines (`NotFoundError` when there is none)."""
        invoice = await self._call(self._stripe.v1.invoices.retrieve_async(invoice_id))
        return await self._complete(invoice)

    async def _complete(self, invoice: stripe.Invoice) -> BillingInvoice:
        """Read the lines Stripe did not embed (it embeds the first ten)."""
        if not invoice.lines.has_more:
            return records.invoice_from(invoice)

        def fetch(cursor: str | None) -> Awaitable[stripe.ListObject[stripe.InvoiceLineItem]]:
            params: stripe.params.InvoiceListLinesParams = {"limit": PAGE_SIZE}
            if cursor:
                params["starting_after"] = cursor
            return self._stripe.v1.invoices.line_items.list_async(invoice.id, params)

        lines = await self._pages(fetch)
        return records.invoice_from(invoice, [line.to_dict() for line in lines])

    async def _items_of(self, invoice_id: str) -> list[stripe.InvoiceItem]:
        def fetch(cursor: str | None) -> Awaitable[stripe.ListObject[stripe.InvoiceItem]]:
            params: stripe.params.InvoiceItemListParams = {
                "invoice": invoice_id,
                "limit": PAGE_SIZE,
            }
            if cursor:
                params["starting_after"] = cursor
            return self._stripe.v1.invoice_items.list_async(params)

        return await self._pages(fetch)

    async def create_invoice(
        self,
        *,
        key: str,
        customer_id: str,
        currency: str,
        lines: Sequence[InvoiceLine],
        document_date: date,
        period_start: date | None = None,
        period_end: date | None = None,
        contract_id: str | None = None,
        description: str | None = None,
        days_until_due: int = DEFAULT_DAYS_UNTIL_DUE,
        metadata: dict[str, str] | None = None,
    ) -> BillingInvoice:
        """A finalized (open) invoice with exactly `lines`, dated `document_date`.

        Steps, each skipped when an earlier attempt did it: find the invoice by key or create
        the draft; add each line as an invoice item (keyed `<key>:line:<n>` unless the line
        has its own key) unless the draft already has it; finalize. An invoice that exists in
        another state (paid, void) is returned as it is.
        """
        if not lines:
            raise BusinessError(SYSTEM, f"invoice {key!r} has no lines", code="empty_invoice")
        wire_currency = stripe_currency(currency)
        wanted = {
            self._line_key(key, index, line): (
                line,
                to_minor_units(line.amount, currency),
            )
            for index, line in enumerate(lines)
        }
        invoice = await self._search_key(self._search_invoices, key)
        fresh = invoice is None
        if invoice is None:
            params = self._draft_params(
                key,
                customer_id,
                wire_currency,
                document_date,
                period_start,
                period_end,
                contract_id,
                description,
                days_until_due,
                metadata,
            )
            invoice = await self._call(
                self._stripe.v1.invoices.create_async(params, self._options(key))
            )
        if (invoice.customer, invoice.currency) != (customer_id, wire_currency):
            raise self._conflict(key, f"invoice {invoice.id} for {invoice.customer}")
        if invoice.status == "draft":
            await self._add_missing_items(key, invoice, customer_id, wire_currency, wanted, fresh)
            invoice = await self._call(
                self._stripe.v1.invoices.finalize_invoice_async(
                    invoice.id, {"auto_advance": False}, self._options(f"{key}:finalize")
                )
            )
        result = await self._complete(invoice)
        billed = {line.key: line.amount for line in result.lines}
        expected = {k: from_minor_units(minor, currency) for k, (_, minor) in wanted.items()}
        if billed != expected:
            raise self._conflict(key, f"invoice {result.id} with other lines")
        return result

    @staticmethod
    def _line_key(key: str, index: int, line: InvoiceLine) -> str:
        return stored_key(line.key or f"{key}:line:{index}")

    def _draft_params(
        self,
        key: str,
        customer_id: str,
        currency: str,
        document_date: date,
        period_start: date | None,
        period_end: date | None,
        contract_id: str | None,
        description: str | None,
        days_until_due: int,
        extra: dict[str, str] | None,
    ) -> InvoiceCreateParams:
        metadata = {
            **(extra or {}),
            records.KEY: stored_key(key),
            records.DOCUMENT_DATE: document_date.isoformat(),
        }
        if contract_id:
            metadata[records.CONTRACT_ID] = contract_id
        if period_start:
            metadata[records.PERIOD_START] = period_start.isoformat()
        if period_end:
            metadata[records.PERIOD_END] = period_end.isoformat()
        params: InvoiceCreateParams = {
            "customer": customer_id,
            "currency": currency,
            "collection_method": "send_invoice",
            "days_until_due": days_until_due,
            "auto_advance": False,
            "pending_invoice_items_behavior": "exclude",
            "effective_at": day_start(document_date),
            "metadata": metadata,
        }
        if description:
            params["description"] = description
        return params

    async def _add_missing_items(
        self,
        key: str,
        invoice: stripe.Invoice,
        customer_id: str,
        currency: str,
        wanted: dict[str, tuple[InvoiceLine, int]],
        fresh: bool,
    ) -> None:
        """Create the items the draft lacks (a draft this attempt created has none)."""
        items = [] if fresh else await self._items_of(invoice.id)
        present = {_metadata(item).get(records.KEY, ""): item.amount for item in items}
        for line_key, amount in present.items():
            if line_key not in wanted or wanted[line_key][1] != amount:
                raise self._conflict(key, f"draft {invoice.id} with other lines")
        for line_key, (line, minor) in wanted.items():
            if line_key in present:
                continue
            params: InvoiceItemCreateParams = {
                "customer": customer_id,
                "invoice": invoice.id,
                "currency": currency,
                "amount": minor,
                "description": line.description,
                "metadata": self._line_metadata(key, line_key, line),
            }
            if line.period_start and line.period_end:
                params["period"] = {
                    "start": day_start(line.period_start),
                    "end": day_start(line.period_end + timedelta(days=1)),
                }
            await self._call(
                self._stripe.v1.invoice_items.create_async(params, self._options(line_key))
            )

    @staticmethod
    def _line_metadata(key: str, line_key: str, line: InvoiceLine) -> dict[str, str]:
        metadata = {**line.metadata, records.KEY: line_key, records.INVOICE_KEY: stored_key(key)}
        if line.line_id:
            metadata[records.LINE_ID] = line.line_id
        if line.period_start:
            metadata[records.PERIOD_START] = line.period_start.isoformat()
        if line.period_end:
            metadata[records.PERIOD_END] = line.period_end.isoformat()
        return metadata

    async def list_invoices_for(
        self, *, customer_id: str | None = None, contract_id: str | None = None
    ) -> list[BillingInvoice]:
        """Every invoice of a customer, or of a contract (by `q2c_contract_id`), by date."""
        if (customer_id is None) == (contract_id is None):
            raise ValueError("pass exactly one of customer_id and contract_id")
        invoices: list[stripe.Invoice]
        if contract_id is not None:
            query = f"metadata[{search_literal(records.CONTRACT_ID)}]:{search_literal(contract_id)}"
            invoices = await self._search(self._search_invoices, query)
        else:
            assert customer_id is not None

            def fetch(cursor: str | None) -> Awaitable[stripe.ListObject[stripe.Invoice]]:
                params: stripe.params.InvoiceListParams = {
                    "customer": customer_id,
                    "limit": PAGE_SIZE,
                }
                if cursor:
                    params["starting_after"] = cursor
                return self._stripe.v1.invoices.list_async(params)

            invoices = await self._pages(fetch)
        result = [await self._complete(invoice) for invoice in invoices]
        return sorted(result, key=lambda i: (i.document_date or i.created.date(), i.created, i.id))

    async def void_invoice(self, invoice_id: str, *, key: str) -> BillingInvoice:
        """Void an open invoice (a void one is returned as it is)."""
        invoice = await self._call(self._stripe.v1.invoices.retrieve_async(invoice_id))
        if invoice.status != "void":
            invoice = await self._call(
                self._stripe.v1.invoices.void_invoice_async(invoice_id, None, self._options(key))
            )
        return await self._complete(invoice)

    async def pay_invoice(self, invoice_id: str, *, key: str) -> BillingInvoice:
        """Record an open invoice as paid outside the platform (a paid one is returned)."""
        invoice = await self._call(self._stripe.v1.invoices.retrieve_async(invoice_id))
        if invoice.status != "paid":
            invoice = await self._call(
                self._stripe.v1.invoices.pay_async(
                    invoice_id, {"paid_out_of_band": True}, self._options(key)
                )
            )
        return await self._complete(invoice)

    # --- credit notes ----------------------------------------------------------------------

    async def list_credit_notes(self, invoice_id: str) -> list[BillingCreditNote]:
        """The credit notes of an invoice, oldest first."""
        notes = await self._credit_notes_of({"invoice": invoice_id})
        return [records.credit_note_from(note) for note in reversed(notes)]

    async def list_customer_credit_notes(self, customer_id: str) -> list[BillingCreditNote]:
        """Every credit note of a customer, oldest first: one list (paged), consistent like
        the invoice's, instead of one call an invoice."""
        notes = await self._credit_notes_of({"customer": customer_id})
        return [records.credit_note_from(note) for note in reversed(notes)]

    async def _credit_notes_of(
        self, scope: stripe.params.CreditNoteListParams
    ) -> list[stripe.CreditNote]:
        def fetch(cursor: str | None) -> Awaitable[stripe.ListObject[stripe.CreditNote]]:
            params: stripe.params.CreditNoteListParams = {**scope, "limit": PAGE_SIZE}
            if cursor:
                params["starting_after"] = cursor
            return self._stripe.v1.credit_notes.list_async(params)

        return await self._pages(fetch)

    async def create_credit_note(
        self,
        *,
        key: str,
        invoice_id: str,
        amount: Decimal | None = None,
        lines: Sequence[CreditLine] | None = None,
        document_date: date | None = None,
        contract_id: str | None = None,
        reason: str | None = None,
        memo: str | None = None,
        period_start: date | None = None,
        period_end: date | None = None,
        metadata: dict[str, str] | None = None,
    ) -> BillingCreditNote:
        """A credit note against an open or paid invoice, by total `amount` or by `lines`.

        The earlier credit note with this key (listed on the invoice, which is consistent,
        unlike search) is returned instead of a second one.
        """
        if (amount is None) == (not lines):
            raise ValueError("pass exactly one of amount and lines")
        invoice = await self._call(self._stripe.v1.invoices.retrieve_async(invoice_id))
        currency = invoice.currency
        total = (
            to_minor_units(amount, currency)
            if amount is not None
            else sum(to_minor_units(line.amount, currency) for line in lines or ())
        )
        for note in await self._credit_notes_of({"invoice": invoice_id}):
            if _metadata(note).get(records.KEY) == stored_key(key):
                if note.total != total:
                    raise self._conflict(key, f"credit note {note.id} of another amount")
                return records.credit_note_from(note)
        metadata = {**(metadata or {}), records.KEY: stored_key(key)}
        if contract_id:
            metadata[records.CONTRACT_ID] = contract_id
        if period_start:
            metadata[records.PERIOD_START] = period_start.isoformat()
        if period_end:
            metadata[records.PERIOD_END] = period_end.isoformat()
        params: CreditNoteCreateParams = {"invoice": invoice_id, "metadata": metadata}
        if document_date:
            metadata[records.DOCUMENT_DATE] = document_date.isoformat()
            params["effective_at"] = day_start(document_date)
        if amount is not None:
            params["amount"] = total
        else:
            params["lines"] = [self._credit_line(line, currency) for line in lines or ()]
        if reason:
            params["reason"] = reason
        if memo:
            params["memo"] = memo
        created = await self._call(
            self._stripe.v1.credit_notes.create_async(params, self._options(key))
        )
        return records.credit_note_from(created)

    @staticmethod
    def _credit_line(line: CreditLine, currency: str) -> CreditNoteCreateParamsLine:
        minor = to_minor_units(line.amount, currency)
        if line.invoice_line_id:
            result: CreditNoteCreateParamsLine = {
                "type": "invoice_line_item",
                "invoice_line_item": line.invoice_line_id,
                "amount": minor,
            }
            if line.description:
                result["description"] = line.description
            return result
        return {
            "type": "custom_line_item",
            "unit_amount": minor,
            "quantity": 1,
            "description": line.description or "Credit",
        }

    # --- webhooks --------------------------------------------------------------------------

    def parse_webhook(self, payload: bytes, signature: str | None) -> BillingEvent:
        """A verified event, or `InvalidWebhookError` (forged, tampered, too old, not an event)."""
        try:
            event = self._stripe.construct_event(
                payload, signature, self._webhook_secret, tolerance=self._tolerance
            )
        except stripe.SignatureVerificationError as exc:
            raise InvalidWebhookError(
                SYSTEM, exc.user_message or str(exc), code="signature_invalid"
            ) from None
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise InvalidWebhookError(
                SYSTEM, f"webhook body is not an event: {exc}", code="payload_invalid"
            ) from None
        except RecursionError:
            raise InvalidWebhookError(
                SYSTEM, "webhook body is nested too deeply", code="payload_invalid"
            ) from None
        try:
            return records.event_from(event)
        except (KeyError, TypeError) as exc:
            raise InvalidWebhookError(
                SYSTEM, f"webhook event lacks {exc}", code="payload_invalid"
            ) from None
        except (ValueError, AttributeError, OverflowError) as exc:  # pydantic's errors included
            raise InvalidWebhookError(
                SYSTEM, f"webhook event is malformed: {exc}", code="payload_invalid"
            ) from None
