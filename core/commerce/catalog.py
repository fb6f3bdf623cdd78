"""The product catalogue: Shopify product exports read into typed, frozen objects.

Two readers share one in-memory index: :class:`ShopifyCsvCatalog` reads the
product CSV exactly as Shopify's admin exports it (one row per variant, extra
image-only rows, the product fields on the first row of each ``Handle``) and
:class:`ShopifyJsonCatalog` reads the Admin API ``products.json`` shape, which
also carries variant ids. :func:`load_catalog` picks one by file extension.

Only products that are ``active`` *and* published are ever offered to
customers (:meth:`Catalog.offered`); drafts, archived and unpublished products
stay readable for staff look-ups.
"""

from __future__ import annotations

import csv
import html
import io
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from core.errors import CatalogError
from core.messages import StockState

InventoryPolicy = Literal["deny", "continue"]
ProductStatus = Literal["active", "draft", "archived"]

#: Option names (several languages) whose values are colours or sizes; a name ending in one
#: of them counts too ("Link Size", "Frame Colour").
COLOR_OPTION_NAMES = frozenset({"color", "colour", "colors", "colours", "farbe", "couleur", "colore", "kleur",
                                "färg", "颜色"})
SIZE_OPTION_NAMES = frozenset({"size", "sizes", "waist", "shoe size", "length", "größe", "grösse", "groesse",
                               "taille", "talla", "taglia", "maat", "storlek", "尺码"})
LOW_STOCK_AT = 3
#: Skipped rows logged one by one when a catalogue loads; the rest are counted.
MAX_LOGGED_WARNINGS = 20
logger = logging.getLogger(__name__)
_DEFAULT_TITLE = "Default Title"


@dataclass(frozen=True)
class Variant:
    """One purchasable variant of a product.

    ``inventory_qty`` is ``None`` when Shopify does not track inventory for
    the variant (it is then always buyable).
    """

    id: str | None
    sku: str
    title: str
    options: Mapping[str, str] = field(default_factory=dict, hash=False)
    price: Decimal = Decimal(0)
    compare_at_price: Decimal | None = None
    inventory_qty: int | None = None
    inventory_policy: InventoryPolicy = "deny"
    image_url: str | None = None

    @property
    def buyable(self) -> bool:
        """False only when stock is tracked, used up, and overselling is denied."""
        return not (self.inventory_qty is not None and self.inventory_qty <= 0
                    and self.inventory_policy == "deny")

    @property
    def stock(self) -> StockState:
        if self.inventory_qty is None:
            return StockState.IN_STOCK
        if self.inventory_qty <= 0:
            return StockState.OUT_OF_STOCK
        if self.inventory_qty <= LOW_STOCK_AT:
            return StockState.LOW_STOCK
        return StockState.IN_STOCK

    @property
    def color(self) -> str | None:
        return _option_of(self.options, COLOR_OPTION_NAMES)

    @property
    def size(self) -> str | None:
        return _option_of(self.options, SIZE_OPTION_NAMES)

    @property
    def on_sale(self) -> bool:
        return self.compare_at_price is not None and self.compare_at_price > self.price


def _option_of(options: Mapping[str, str], names: frozenset[str]) -> str | None:
    for name, value in options.items():
        key = name.strip().lower()
        if key in names or key.rsplit(" ", 1)[-1] in names:
            return value
    return None


@dataclass(frozen=True)
class Product:
    """A product with its variants. ``body_text`` is ``body_html`` without tags."""

    handle: str
    title: str
    body_html: str = ""
    body_text: str = ""
    vendor: str = ""
    product_type: str = ""
    category: str = ""
    tags: tuple[str, ...] = ()
    status: ProductStatus = "active"
    published: bool = True
    gift_card: bool = False
    images: tuple[str, ...] = ()
    variants: tuple[Variant, ...] = ()
    option_names: tuple[str, ...] = ()

    @property
    def offered(self) -> bool:
        """Whether customers may be shown this product at all."""
        return self.status == "active" and self.published and bool(self.variants)

    @property
    def colors(self) -> tuple[str, ...]:
        return _unique(v.color for v in self.variants if v.color)

    @property
    def sizes(self) -> tuple[str, ...]:
        return _unique(v.size for v in self.variants if v.size)

    @property
    def min_price(self) -> Decimal:
        return min((v.price for v in self.variants), default=Decimal(0))

    @property
    def max_price(self) -> Decimal:
        return max((v.price for v in self.variants), default=Decimal(0))

    @property
    def in_stock(self) -> bool:
        return any(v.buyable for v in self.variants)

    @property
    def image_url(self) -> str | None:
        return self.images[0] if self.images else None

    def has_tag(self, tag: str) -> bool:
        return tag.lower() in (t.lower() for t in self.tags)


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


@dataclass(frozen=True)
class Vocabulary:
    """The words the catalogue itself uses, for entity extraction."""

    colors: tuple[str, ...] = ()
    sizes: tuple[str, ...] = ()
    product_types: tuple[str, ...] = ()


@runtime_checkable
class Catalog(Protocol):
    """What the dialogue core needs from a catalogue, whatever its source."""

    def products(self) -> Sequence[Product]:
        """Every product, including drafts and archived ones."""
        ...

    def offered(self) -> Sequence[Product]:
        """Active, published products: the only ones shown to customers."""
        ...

    def get(self, handle: str) -> Product | None: ...

    def find_variant(self, sku_or_id: str) -> tuple[Product, Variant] | None: ...

    def vocabulary(self) -> Vocabulary:
        """Colours, sizes and product types of the offered products."""
        ...


class InMemoryCatalog:
    """A catalogue held in memory; the readers below build one of these."""

    def __init__(self, *, products: Sequence[Product], source: str = "") -> None:
        self.source = source
        #: The export's header (CSV only): market columns tell the shop's currency.
        self.columns: tuple[str, ...] = ()
        #: Rows skipped while reading, each naming the file, line and column.
        self.warnings: list[str] = []
        self._products = tuple(products)
        self._by_handle = {p.handle: p for p in self._products}
        self._by_variant: dict[str, tuple[Product, Variant]] = {}
        for p in self._products:
            for v in p.variants:
                if v.sku:
                    self._by_variant.setdefault(v.sku.lower(), (p, v))
                if v.id:
                    self._by_variant.setdefault(v.id, (p, v))
        self._offered = tuple(p for p in self._products if p.offered)

    def __len__(self) -> int:
        return len(self._products)

    def products(self) -> Sequence[Product]:
        return self._products

    def offered(self) -> Sequence[Product]:
        return self._offered

    def get(self, handle: str) -> Product | None:
        return self._by_handle.get(handle)

    def find_variant(self, sku_or_id: str) -> tuple[Product, Variant] | None:
        key = sku_or_id.strip()
        return self._by_variant.get(key) or self._by_variant.get(key.lower())

    def vocabulary(self) -> Vocabulary:
        offered = self._offered
        return Vocabulary(
            colors=tuple(sorted({c for p in offered for c in p.colors})),
            sizes=tuple(sorted({s for p in offered for s in p.sizes})),
            product_types=tuple(sorted({p.product_type for p in offered if p.product_type})),
        )


# --------------------------------------------------------------------------- helpers


class _TextExtractor(HTMLParser):
    _BLOCK = frozenset({"p", "br", "li", "div", "ul", "ol", "h1", "h2", "h3", "h4", "tr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BLOCK:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(body_html: str) -> str:
    """Strip tags and entities from Shopify's ``Body (HTML)``; whitespace is folded. Broken HTML never raises."""
    if not body_html:
        return ""
    parser = _TextExtractor()
    try:
        parser.feed(body_html)
        parser.close()
    except (AssertionError, ValueError):  # what html.parser raises on markup it cannot follow
        return " ".join(html.unescape(re.sub(r"<[^>]*>?", " ", body_html)).split())
    return " ".join(html.unescape("".join(parser.parts)).split())


def _decimal(raw: str | float | None, *, what: str) -> Decimal | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        value = Decimal(str(raw).strip().replace(",", ""))
    except InvalidOperation as e:
        raise ValueError(f"{what} {raw!r} is not a number") from e
    if not value.is_finite() or value < 0:
        raise ValueError(f"{what} {raw!r} is not a valid amount")
    return value


def _int(raw: str | int | None, *, what: str) -> int | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        return int(str(raw).strip())
    except ValueError as e:
        raise ValueError(f"{what} {raw!r} is not a whole number") from e


def _bool(raw: str | bool | None, *, default: bool) -> bool:
    if raw is None or isinstance(raw, bool):
        return default if raw is None else raw
    text = raw.strip().lower()
    if not text:
        return default
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    raise ValueError(f"expected TRUE or FALSE, got {raw!r}")


def _policy(raw: str | None) -> InventoryPolicy:
    text = (raw or "").strip().lower() or "deny"
    if text not in ("deny", "continue"):
        raise ValueError(f"inventory policy {raw!r} is neither 'deny' nor 'continue'")
    return text  # type: ignore[return-value]


def _status(raw: str | None) -> ProductStatus:
    text = (raw or "").strip().lower() or "active"
    if text not in ("active", "draft", "archived"):
        raise ValueError(f"status {raw!r} is not active, draft or archived")
    return text  # type: ignore[return-value]


def _tags(raw: str | Sequence[str] | None) -> tuple[str, ...]:
    if not raw:
        return ()
    items = raw.split(",") if isinstance(raw, str) else raw
    return _unique(t.strip() for t in items if t and t.strip())


def _variant_title(options: Mapping[str, str]) -> str:
    return " / ".join(options.values())


def _options(names: Sequence[str], values: Sequence[str | None]) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, value in enumerate(values):
        value = (value or "").strip()
        if not value or value == _DEFAULT_TITLE:
            continue
        name = names[i] if i < len(names) and names[i] else f"Option{i + 1}"
        out[name] = value
    return out


# --------------------------------------------------------------------------- CSV


@dataclass
class _Draft:
    """A product being assembled from consecutive CSV rows."""

    fields: dict[str, Any]
    option_names: list[str]
    variants: list[Variant] = field(default_factory=list)
    images: list[tuple[int, str]] = field(default_factory=list)


class ShopifyCsvCatalog(InMemoryCatalog):
    """A catalogue read from a Shopify product CSV export.

    Tolerates a UTF-8 BOM, CRLF line ends, extra or missing optional columns.
    Raises :class:`~core.errors.CatalogError` (with the 1-based line) when a
    row cannot be understood.
    """

    @classmethod
    def from_path(cls, path: str | Path) -> ShopifyCsvCatalog:
        path = Path(path)
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise CatalogError(str(path), f"cannot read file: {e.strerror or e}") from e
        warnings: list[str] = []
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            # Read what is readable: the bad bytes become U+FFFD and the first one is reported.
            line = raw[: e.start].count(b"\n") + 1
            column = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
            warnings.append(f"{path}:{line}: byte {column} is not UTF-8 text; such bytes were replaced")
            text = raw.decode("utf-8-sig", errors="replace")
        catalog = cls.from_text(text, source=str(path))
        catalog.warnings = warnings + catalog.warnings
        return catalog

    @classmethod
    def from_text(cls, text: str, *, source: str = "<csv>") -> ShopifyCsvCatalog:
        """Parse CSV text (as exported by Shopify) into a catalogue.

        A row that cannot be read (no title on a product's first row, a price that is not a
        non-negative number, a handle used by two different products...) is skipped with a
        warning naming the line and column (:attr:`warnings`); the rest still loads.

        Raises:
            CatalogError: the file is empty, is not a product CSV (a required column is missing),
                or its CSV quoting is broken.
        """
        text = text.lstrip("\ufeff")
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        try:
            header = next(reader)
        except StopIteration:
            raise CatalogError(source, "file is empty", line=1) from None
        except csv.Error as e:
            raise CatalogError(source, f"bad CSV header: {e}", line=1) from e
        columns = [h.strip() for h in header]
        for required in ("Handle", "Title"):
            if required not in columns:
                raise CatalogError(source, f"no {required!r} column: not a Shopify product CSV", line=1)
        if "Variant Price" not in columns:
            raise CatalogError(source, "no 'Variant Price' column: products cannot be priced", line=1)
        warnings: list[str] = []
        titled: dict[str, str] = {}
        drafts: dict[str, _Draft] = {}
        line = 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                raise CatalogError(source, f"malformed CSV: {e}", line=reader.line_num) from e
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) > len(columns) and any(c.strip() for c in cells[len(columns):]):
                raise CatalogError(source, f"{len(cells)} cells but the header has {len(columns)}", line=line)
            row = dict(zip(columns, cells))
            handle, title = (row.get("Handle") or "").strip(), (row.get("Title") or "").strip()
            if handle and title and titled.get(handle, title) != title:
                warnings.append(f"{source}:{line}: column 'Handle': {handle!r} is also the handle of "
                                f"{titled[handle]!r}; row skipped")
                continue
            try:
                _add_row(drafts, row)
            except _RowError as e:
                warnings.append(f"{source}:{line}: column {e.column!r}: {e}; row skipped")
                continue
            except ValueError as e:
                warnings.append(f"{source}:{line}: {e}; row skipped")
                continue
            if handle and title:
                titled.setdefault(handle, title)
        catalog = cls(products=[_finish(d) for d in drafts.values()], source=source)
        catalog.columns = tuple(columns)
        catalog.warnings = warnings
        return catalog


class _RowError(ValueError):
    """A row that cannot be read, and the column that says why."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column


def _add_row(drafts: dict[str, _Draft], row: dict[str, str]) -> None:
    def get(name: str) -> str:
        return (row.get(name) or "").strip()

    def number(name: str, parse: Any) -> Any:
        try:
            return parse(get(name), what=name)
        except ValueError as e:
            raise _RowError(name, str(e)) from e

    handle = get("Handle")
    if not handle:
        raise _RowError("Handle", "row has no Handle")
    draft = drafts.get(handle)
    if draft is None:
        title = get("Title")
        if not title:
            raise _RowError("Title", f"first row of product {handle!r} has no Title")
        published_raw = row.get("Published", row.get("Published on online store"))
        draft = _Draft(
            fields={
                "handle": handle,
                "title": title,
                "body_html": row.get("Body (HTML)") or "",
                "vendor": get("Vendor"),
                # 2021 layout: no Type column, the shop's own type is "Custom Product Type".
                "product_type": get("Type") or get("Custom Product Type"),
                "category": get("Product Category") or get("Standard Product Type")
                or get("Standardized Product Type"),
                "tags": _tags(get("Tags")),
                "status": _status(get("Status")),
                "published": _bool(published_raw, default=True),
                "gift_card": _bool(get("Gift Card"), default=False),
            },
            option_names=[get(f"Option{i} Name") for i in (1, 2, 3)],
        )
        drafts[handle] = draft
    image = get("Image Src")
    if image:
        position = _int(get("Image Position"), what="Image Position") or len(draft.images) + 1
        draft.images.append((position, image))
    values = [get(f"Option{i} Value") for i in (1, 2, 3)]
    if not (any(values) or get("Variant SKU") or get("Variant Price")):
        return  # an image-only row
    price = number("Variant Price", _decimal)
    if price is None:
        raise _RowError("Variant Price", f"variant of {handle!r} has no Variant Price")
    tracked = "Variant Inventory Tracker" not in row or bool(get("Variant Inventory Tracker"))
    qty = number("Variant Inventory Qty", _int)
    options = _options(draft.option_names, values)
    variant_image = get("Variant Image") or None
    draft.variants.append(Variant(
        id=None,
        sku=get("Variant SKU"),
        title=_variant_title(options) or _DEFAULT_TITLE,
        options=options,
        price=price,
        compare_at_price=number("Variant Compare At Price", _decimal),
        # Nothing left under "deny" is sold out even without a tracker: never promise what may not ship.
        inventory_qty=qty if tracked or (qty is not None and qty <= 0) else None,
        inventory_policy=_policy(get("Variant Inventory Policy")),
        image_url=variant_image,
    ))


def _finish(draft: _Draft) -> Product:
    images = _unique(src for _, src in sorted(draft.images, key=lambda x: x[0]))
    variants = tuple(
        v if v.image_url or not images else replace(v, image_url=images[0])
        for v in draft.variants
    )
    names = tuple(n for n in draft.option_names if n and n != "Title")
    return Product(
        **draft.fields,
        body_text=html_to_text(draft.fields["body_html"]),
        images=images,
        variants=variants,
        option_names=names,
    )


# --------------------------------------------------------------------------- JSON


class ShopifyJsonCatalog(InMemoryCatalog):
    """A catalogue read from Shopify Admin API JSON (``{"products": [...]}``)."""

    @classmethod
    def from_path(cls, path: str | Path) -> ShopifyJsonCatalog:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as e:
            raise CatalogError(str(path), f"cannot read file: {e.strerror or e}") from e
        except UnicodeDecodeError as e:
            raise CatalogError(str(path), "file is not UTF-8 text") from e
        return cls.from_text(text, source=str(path))

    @classmethod
    def from_text(cls, text: str, *, source: str = "<json>") -> ShopifyJsonCatalog:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise CatalogError(source, f"invalid JSON: {e.msg}", line=e.lineno) from e
        if isinstance(doc, dict) and "product" in doc and "products" not in doc:
            items = [doc["product"]]
        elif isinstance(doc, dict) and isinstance(doc.get("products"), list):
            items = doc["products"]
        else:
            raise CatalogError(source, "expected an object with a 'products' list")
        products = []
        for i, item in enumerate(items):
            try:
                products.append(_product_from_json(item))
            except (ValueError, TypeError, KeyError, AttributeError) as e:
                raise CatalogError(source, f"products[{i}]: {e}") from e
        return cls(products=products, source=source)


def _product_from_json(item: dict[str, Any]) -> Product:
    handle = str(item["handle"]).strip()
    if not handle:
        raise ValueError("empty handle")
    names = [str(o.get("name", "")) for o in sorted(item.get("options") or [], key=lambda o: o.get("position", 0))]
    images_raw = sorted(item.get("images") or [], key=lambda im: im.get("position", 0))
    image_by_id = {im.get("id"): im.get("src") for im in images_raw}
    images = _unique(str(im["src"]) for im in images_raw if im.get("src"))
    if not images and isinstance(item.get("image"), dict) and item["image"].get("src"):
        images = (str(item["image"]["src"]),)
    variants = []
    for v in item.get("variants") or []:
        options = _options(names, [v.get("option1"), v.get("option2"), v.get("option3")])
        tracked = v.get("inventory_management") not in (None, "") if "inventory_management" in v else True
        qty = _int(v.get("inventory_quantity"), what="inventory_quantity")
        price = _decimal(v.get("price"), what="price")
        if price is None:
            raise ValueError(f"variant {v.get('id')} has no price")
        variants.append(Variant(
            id=str(v["id"]) if v.get("id") is not None else None,
            sku=str(v.get("sku") or ""),
            title=str(v.get("title") or _variant_title(options) or _DEFAULT_TITLE),
            options=options,
            price=price,
            compare_at_price=_decimal(v.get("compare_at_price"), what="compare_at_price"),
            inventory_qty=qty if tracked else None,
            inventory_policy=_policy(v.get("inventory_policy")),
            image_url=image_by_id.get(v.get("image_id")) or (images[0] if images else None),
        ))
    body_html = str(item.get("body_html") or "")
    if isinstance(item.get("published"), bool):
        published = item["published"]
    else:
        published = "published_at" not in item or item["published_at"] is not None
    return Product(
        handle=handle,
        title=str(item.get("title") or handle),
        body_html=body_html,
        body_text=html_to_text(body_html),
        vendor=str(item.get("vendor") or ""),
        product_type=str(item.get("product_type") or ""),
        category=str((item.get("category") or {}).get("full_name", "")) if isinstance(item.get("category"), dict) else "",
        tags=_tags(item.get("tags")),
        status=_status(item.get("status")),
        published=published,
        gift_card=bool(item.get("gift_card", False)),
        images=images,
        variants=tuple(variants),
        option_names=tuple(n for n in names if n and n != "Title"),
    )


def product_from_admin_json(item: dict[str, Any]) -> Product:
    """One product in the Admin API's REST shape (``products.json``, product webhooks).

    Raises:
        ValueError, TypeError, KeyError: the item cannot be read as a product.
    """
    return _product_from_json(item)


def load_catalog(path: str | Path) -> InMemoryCatalog:
    """Read a catalogue file, choosing the reader by extension (.csv or .json)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        catalog = ShopifyCsvCatalog.from_path(path)
        for warning in catalog.warnings[:MAX_LOGGED_WARNINGS]:
            logger.warning("catalogue: %s", warning)
        if len(catalog.warnings) > MAX_LOGGED_WARNINGS:
            logger.warning("catalogue: %d more rows skipped in %s", len(catalog.warnings) - MAX_LOGGED_WARNINGS, path)
        return catalog
    if suffix == ".json":
        return ShopifyJsonCatalog.from_path(path)
    raise CatalogError(str(path), f"unknown catalogue format {suffix or '(none)'!r}; expected .csv or .json")
