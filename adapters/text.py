"""Text helpers every platform renderer shares: prices, stock labels, splitting long texts."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from core.messages import StockState

_CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "CA$", "AUD": "A$"}

STOCK_LABELS = {
    StockState.IN_STOCK: "In stock",
    StockState.LOW_STOCK: "Low stock",
    StockState.OUT_OF_STOCK: "Out of stock",
}


def format_price(amount: Decimal, currency: str) -> str:
    """``$59.99`` for currencies with a known symbol, else ``59.99 SEK``."""
    symbol = _CURRENCY_SYMBOLS.get(currency.upper())
    return f"{symbol}{amount:,.2f}" if symbol else f"{amount:,.2f} {currency}"


def split_text(text: str, limit: int, *, measure: Callable[[str], int] = len) -> list[str]:
    """Split ``text`` into chunks of at most ``limit`` (as ``measure`` counts) at natural boundaries.

    Paragraphs first, then lines, then words; a word longer than the limit is cut.
    """
    chunks: list[str] = []
    rest = text.strip()
    while measure(rest) > limit:
        end = min(len(rest), limit)
        while end > 1 and measure(rest[:end]) > limit:  # e.g. UTF-16 units: astral characters count twice
            end -= 1
        window = rest[:end]
        cut = -1
        for separator in ("\n\n", "\n", " "):
            cut = window.rfind(separator)
            if cut > 0:
                break
        if cut <= 0:
            cut = end
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        chunks.append(rest)
    return chunks
