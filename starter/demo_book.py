"""The demo's book of business: 20 contracts in USD, EUR and GBP, dated around today.

Most started months ago, so their workflows catch up at once on every period already due
(DESIGN.md §3.2); one ended last month (Expired), one starts next month. Four amendments
arrive later through the webhook: an upsell at SSP (a separate contract), a discounted upsell
(prospective), a downgrade (prospective) and a cancellation. One contract sells a product that
was never mapped to billing, so it parks in NeedsAttention. Each deal is a DESIGN.md §6
scenario, booked in the Salesforce sandbox as an opportunity with its lines.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from starter.catalog import Product

ENTITIES = {"USD": "US", "EUR": "EU-DE", "GBP": "UK"}


def _prices(usd: str, eur: str, gbp: str) -> dict[str, Decimal]:
    return {"USD": Decimal(usd), "EUR": Decimal(eur), "GBP": Decimal(gbp)}


CATALOG = (
    Product(
        "SEAT-PRO", "Seat (Pro), per user and year", "subscription", _prices("1200", "1100", "950")
    ),
    Product(
        "ANALYTICS", "Analytics, per user and year", "subscription", _prices("300", "275", "240")
    ),
    Product(
        "SUPPORT-PREM",
        "Premium support, per year",
        "subscription",
        _prices("12000", "11000", "9500"),
    ),
    Product("ONBOARD", "Onboarding", "one_time", _prices("5000", "4500", "4000")),
    Product(
        "API-CALLS", "API calls above the allowance", "usage", _prices("0.002", "0.002", "0.002")
    ),
)
# Sold in one deal and never mapped to a billing price: that contract parks.
UNMAPPED = Product(
    "LEGACY-SUPPORT", "Legacy support (retired)", "subscription", _prices("6000", "5500", "4800")
)
PRODUCTS = {p.code: p for p in (*CATALOG, UNMAPPED)}


@dataclass(frozen=True)
class Deal:
    number: str
    customer: str
    currency: str
    months_ago: int  # start month, counted back from this month (negative: ahead)
    start_day: int
    term_months: int
    frequency: str
    lines: tuple[tuple[str, int, Decimal], ...]  # product code, quantity, discount off list


# number|customer|currency|started months ago|on day|term in months|billing|lines
# (a line: product code, quantity, and an optional discount off the list price)
BOOK_TABLE = """
Q2C-1001|Globex Corporation      |USD| 9| 1|24|monthly  |SEAT-PRO 120, SUPPORT-PREM 1
Q2C-1002|Initech                 |USD| 7|15|12|quarterly|SEAT-PRO 40 -10%, ONBOARD 1
Q2C-1003|Umbrella Health         |USD| 5| 1|36|monthly  |SEAT-PRO 250 -15%, API-CALLS 1000000
Q2C-1004|Stark Logistics         |USD| 3|10|12|annual   |SEAT-PRO 60, ANALYTICS 60
Q2C-1005|Wayne Analytics         |USD| 2| 1|12|monthly  |ANALYTICS 200 -5%
Q2C-1006|Hooli                   |USD| 1| 1|24|quarterly|SEAT-PRO 500 -20%
Q2C-1007|Soylent Foods           |USD|-1| 1|12|monthly  |SEAT-PRO 25, ONBOARD 1
Q2C-1008|Cyberdyne Systems       |USD|13| 1|12|monthly  |SEAT-PRO 30
Q2C-2001|Acme GmbH               |EUR| 8|15|12|monthly  |SEAT-PRO 80, ONBOARD 1
Q2C-2002|Bauer Maschinenbau AG   |EUR| 6| 1|24|quarterly|SEAT-PRO 150 -10%
Q2C-2003|Müller Logistik GmbH    |EUR| 4| 1|12|monthly  |SEAT-PRO 45, SUPPORT-PREM 1
Q2C-2004|Rheinwerk Software      |EUR| 2|20|12|annual   |ANALYTICS 120
Q2C-2005|Zeppelin Analytics      |EUR| 1| 1|12|monthly  |SEAT-PRO 20, API-CALLS 500000
Q2C-2006|Nordlicht Energie       |EUR| 0| 1|36|monthly  |SEAT-PRO 300 -20%
Q2C-3001|Albion Retail plc       |GBP| 7| 1|12|monthly  |SEAT-PRO 70
Q2C-3002|Thames Digital Ltd      |GBP| 5| 1|12|quarterly|SEAT-PRO 35, ONBOARD 1
Q2C-3003|Cambridge Bioinformatics|GBP| 3| 1|24|monthly  |ANALYTICS 90
Q2C-3004|Brighton Media          |GBP| 1| 5|12|annual   |SEAT-PRO 15, SUPPORT-PREM 1
Q2C-3005|Highland Distillers     |GBP| 2| 1|12|monthly  |SEAT-PRO 55 -5%, LEGACY-SUPPORT 1
Q2C-3006|Pennine Outdoor         |GBP| 6| 1|12|monthly  |SEAT-PRO 25
"""


def _deal_lines(text: str) -> tuple[tuple[str, int, Decimal], ...]:
    lines = []
    for part in text.split(","):
        code, quantity, *discount = part.split()
        off = Decimal(discount[0].strip("-%")) / 100 if discount else Decimal(0)
        lines.append((code, int(quantity), off))
    return tuple(lines)


def _deal(row: str) -> Deal:
    number, customer, currency, ago, day, term, billing, lines = (c.strip() for c in row.split("|"))
    return Deal(
        number, customer, currency, int(ago), int(day), int(term), billing, _deal_lines(lines)
    )


BOOK = tuple(_deal(row) for row in BOOK_TABLE.strip().splitlines())


def _month_start(today: dt.date, months_ago: int) -> dt.date:
    index = today.year * 12 + today.month - 1 - months_ago
    return dt.date(index // 12, index % 12 + 1, 1)


def _add_months(day: dt.date, months: int) -> dt.date:
    first = _month_start(day, -months)
    return first.replace(day=min(day.day, 28))


def scenario_line(
    index: int, code: str, quantity: int, discount: Decimal, currency: str
) -> dict[str, Any]:
    """A §6 scenario line of `quantity` of product `code` at its list price less `discount`."""
    product = PRODUCTS[code]
    ssp = product.price(currency)
    line: dict[str, Any] = {"id": f"L{index}", "product_code": code, "kind": product.kind}
    if product.kind == "usage":
        return {**line, "included": quantity, "unit_price": str(ssp)}
    price = (ssp * (1 - discount)).quantize(Decimal("0.01"))
    return {**line, "quantity": quantity, "unit_price": str(price), "ssp": str(ssp)}


def scenario(deal: Deal, today: dt.date) -> dict[str, Any]:
    """The deal as a §6 scenario (without amendments), dated relative to `today`."""
    start = _month_start(today, deal.months_ago).replace(day=deal.start_day)
    end = _add_months(start, deal.term_months) - dt.timedelta(days=1)
    slug = deal.number.lower()
    return {
        "contract": {
            "id": deal.number,
            "customer": {"id": f"ACC-{slug[4:]}", "name": deal.customer},
            "currency": deal.currency,
            "legal_entity": ENTITIES[deal.currency],
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "billing_frequency": deal.frequency,
            "lines": [
                scenario_line(i, code, qty, off, deal.currency)
                for i, (code, qty, off) in enumerate(deal.lines, start=1)
            ],
        },
        "amendments": [],
        "as_of": today.isoformat(),
    }


@dataclass(frozen=True)
class Change:
    """An amendment the demo sends later through the webhook."""

    number: str
    kind: str  # what the summary calls it
    amendment: dict[str, Any]

    @property
    def cancels(self) -> bool:
        return bool(self.amendment.get("cancel"))


def changes(today: dt.date) -> list[Change]:
    """The four amendments, effective a few days back (they prorate the period billed)."""
    recent = (today - dt.timedelta(days=5)).isoformat()
    cancel_on = (today - dt.timedelta(days=10)).isoformat()
    analytics = PRODUCTS["ANALYTICS"].price("EUR")
    return [
        Change(
            "Q2C-1001",
            "upsell at SSP",
            {
                "id": "AMD-1",
                "effective_date": recent,
                "changes": [{"line_id": "L1", "quantity": 150}],
            },
        ),
        Change(
            "Q2C-2001",
            "discounted upsell",
            {
                "id": "AMD-1",
                "effective_date": recent,
                "add_lines": [
                    {
                        "id": "L3",
                        "product_code": "ANALYTICS",
                        "kind": "subscription",
                        "quantity": 80,
                        "unit_price": str(analytics * Decimal("0.55")),
                        "ssp": str(analytics),
                    }
                ],
            },
        ),
        Change(
            "Q2C-1006",
            "downgrade",
            {
                "id": "AMD-1",
                "effective_date": recent,
                "changes": [{"line_id": "L1", "quantity": 350}],
            },
        ),
        Change(
            "Q2C-3006",
            "cancellation",
            {"id": "AMD-1", "effective_date": cancel_on, "cancel": True},
        ),
    ]
