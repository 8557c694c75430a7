"""Product mapping, as a catalog sync does it: each Salesforce product gets a billing product
and price and an ERP item, and their ids are written onto `Product2`.

The contract workflow checks these mappings at activation (a product without them parks the
contract as `missing_product_mapping`). Used by `q2c demo` and the tests; every step is keyed,
so mapping twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from adapters.billing import BillingAdapter
from adapters.erp import ErpClient
from adapters.http import make_http_client
from adapters.salesforce import SalesforceClient
from adapters.settings import Settings


@dataclass(frozen=True)
class Product:
    """A product of the catalog with its list price (= SSP) in each currency it is sold in."""

    code: str
    name: str
    kind: str  # subscription, one_time, usage
    prices: Mapping[str, Decimal]

    def price(self, currency: str) -> Decimal:
        return self.prices[currency]


async def map_products(
    settings: Settings, products: Sequence[Product], product_ids: Mapping[str, str]
) -> None:
    """Map each product (by code → Salesforce Product2 Id) to billing and the ERP."""
    async with BillingAdapter(settings) as billing, make_http_client(settings) as http:
        erp = ErpClient(settings, http)
        salesforce = SalesforceClient(settings, http)
        for product in products:
            currency, amount = next(iter(product.prices.items()))
            billed = await billing.ensure_product(
                key=f"product:{product.code}", code=product.code, name=product.name
            )
            price = await billing.ensure_price(
                key=f"price:{product.code}:{currency}",
                product_id=billed.id,
                product_code=product.code,
                currency=currency,
                unit_amount=amount,
            )
            item = await erp.ensure_item(
                f"item-{product.code}", product.code, display_name=product.name, kind=product.kind
            )
            await salesforce.update(
                "Product2",
                product_ids[product.code],
                {
                    "Q2C_Billing_Price_Id__c": price.id,
                    "Q2C_ERP_Item_Id__c": item.external_id or item.id,
                },
            )
