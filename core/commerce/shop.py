"""Who the shop is: its name, currency, locale and address, for greetings, prices and links.

Settings win (``SHOPKEEP_SHOP_NAME``, ``SHOPKEEP_SHOP_CURRENCY``, ``SHOPKEEP_SHOP_LOCALE``,
``SHOPKEEP_SHOP_URL``). Otherwise a bot's own catalogue takes the bot's defaults
(``data/shop.yaml``), and any other catalogue gets defaults derived from itself: its
most common vendor as the name, a currency from the export's market columns
("Included / Australia" → AUD) — never another shop's name or currency.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from core.commerce.catalog import Catalog

#: Symbols for the currencies a shop is likely to price in; other codes are written after the amount.
CURRENCY_SYMBOLS = {
    "USD": "$", "EUR": "€", "GBP": "£", "AUD": "A$", "NZD": "NZ$", "CAD": "C$", "SGD": "S$", "HKD": "HK$",
    "MYR": "RM", "ZAR": "R", "JPY": "¥", "CNY": "¥", "INR": "₹", "CHF": "CHF ", "SEK": "kr ", "NOK": "kr ",
    "DKK": "kr ", "BRL": "R$", "MXN": "MX$", "PHP": "₱", "KRW": "₩", "THB": "฿", "IDR": "Rp ",
}
#: Market names in Shopify exports ("Included / Australia") and the currency they price in.
_MARKET_CURRENCY = {
    "australia": "AUD", "new zealand": "NZD", "united kingdom": "GBP", "canada": "CAD", "malaysia": "MYR",
    "south africa": "ZAR", "germany": "EUR", "france": "EUR", "netherlands": "EUR", "ireland": "EUR",
    "spain": "EUR", "italy": "EUR", "austria": "EUR", "belgium": "EUR", "european union": "EUR",
    "singapore": "SGD", "japan": "JPY", "india": "INR", "united states": "USD", "switzerland": "CHF",
}
_NOT_A_NAME = frozenset({"", "vendor-unknown", "unknown", "default", "none", "n/a"})


@dataclass(frozen=True)
class ShopIdentity:
    """The shop's public face."""

    name: str
    currency: str
    locale: str
    url: str

    @property
    def symbol(self) -> str:
        return CURRENCY_SYMBOLS.get(self.currency, "")

    def money(self, amount: Decimal) -> str:
        """An amount in the shop's currency: "$12.00", "RM 35.00", "€89.00", "12.00 XYZ"."""
        symbol = self.symbol
        figure = f"{amount:,.2f}"
        if not symbol:
            return f"{figure} {self.currency}"
        spacer = " " if symbol.isalpha() and len(symbol) > 1 else ""
        return f"{symbol}{spacer}{figure}"


def load_shop_defaults(path: Path) -> dict[str, Any]:
    """A bot's ``shop.yaml`` (name, currency, locale, url); empty when the file is missing."""
    if not path.is_file():
        return {}
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {k: str(v) for k, v in doc.items() if v is not None}


def resolve_identity(*, catalog: Catalog, own_catalog: bool, defaults: dict[str, Any], name: str | None = None,
                     currency: str | None = None, locale: str | None = None, url: str | None = None,
                     source: str = "") -> ShopIdentity:
    """Settings first, then the bot's defaults (its own catalogue only), then the catalogue's own evidence."""
    base = defaults if own_catalog else {}
    return ShopIdentity(
        name=name or base.get("name") or catalogue_name(catalog, source),
        currency=(currency or base.get("currency") or catalogue_currency(catalog) or "USD").upper(),
        locale=locale or base.get("locale") or "en",
        url=(url or base.get("url") or "").rstrip("/"),
    )


def catalogue_name(catalog: Catalog, source: str = "") -> str:
    """The most common vendor of the offered products, else the file's name, else "our shop"."""
    vendors = Counter(p.vendor.strip() for p in catalog.offered() if p.vendor.strip().lower() not in _NOT_A_NAME)
    if vendors:
        return vendors.most_common(1)[0][0]
    stem = Path(source).stem if source else ""
    stem = re.sub(r"products?_export(_\d+)?", "", stem).strip("_- ")
    return stem.replace("_", " ").replace("-", " ").title() if stem else "our shop"


def catalogue_currency(catalog: Catalog) -> str | None:
    """A currency named by the export's market columns, when it has exactly one market."""
    columns = getattr(catalog, "columns", ()) or ()
    markets = {m.group(1).strip().lower() for c in columns if (m := re.match(r"(?:Included|Price) / (.+)", c))}
    found = {_MARKET_CURRENCY[m] for m in markets if m in _MARKET_CURRENCY}
    return found.pop() if len(found) == 1 else None
