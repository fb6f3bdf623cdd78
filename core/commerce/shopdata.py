"""Loaders for a bot's shop data: stores, policies, procedures and orders.

Each loader reads one YAML file into frozen pydantic models and raises
:class:`~core.errors.CatalogError` (naming the file, and the line for YAML
syntax errors) when the file cannot be understood.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.errors import CatalogError
from core.retrieval import Passage

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "zh": ("周一", "周二", "周三", "周四", "周五", "周六", "周日"),
}
_CLOSED = {"en": "closed", "zh": "休息"}
_HOURS_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


def _read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise CatalogError(str(path), f"cannot read file: {e.strerror or e}") from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise CatalogError(str(path), f"invalid YAML: {e}", line=mark.line + 1 if mark else None) from e
    if not isinstance(doc, dict):
        raise CatalogError(str(path), "expected a mapping at the top level")
    return doc


_Doc = TypeVar("_Doc", bound=BaseModel)


def _validate(path: str | Path, model: type[_Doc], data: Any) -> _Doc:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CatalogError(str(path), f"{where}: {first['msg']}") from e


# --------------------------------------------------------------------------- stores


def _check_spec(spec: str, where: str) -> str:
    if str(spec).strip().lower() != "closed" and not _HOURS_RE.match(str(spec)):
        raise ValueError(f"hours for {where} must be 'HH:MM-HH:MM' or 'closed', got {spec!r}")
    return str(spec).strip()


def _parse_spec(spec: str) -> tuple[time, time] | None:
    match = _HOURS_RE.match(spec)
    if not match:
        return None
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    return time(h1 % 24, m1), time(h2 % 24, m2)


class SpecialDay(_Frozen):
    """Hours that replace a store's weekly ones on one date: a holiday closure or short hours.

    In ``stores.yaml`` either a bare ``"closed"`` / ``"HH:MM-HH:MM"`` or a mapping
    ``{hours: ..., name: {en: ..., zh: ...}}`` (a plain string name is English).
    """

    hours: str = "closed"
    name: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"hours": value}
        if isinstance(value, dict) and isinstance(value.get("name"), str):
            return {**value, "name": {"en": value["name"]}}
        return value

    @field_validator("hours")
    @classmethod
    def _check_hours(cls, hours: str) -> str:
        return _check_spec(hours, "a special day")

    def name_in(self, lang: str) -> str:
        """The day's name in ``lang`` (English when missing; "" when unnamed)."""
        return self.name.get(lang) or self.name.get("en", "")


class Store(_Frozen):
    """A physical store.

    ``hours`` maps ``mon``..``sun`` to ``"HH:MM-HH:MM"`` or ``"closed"`` in the
    store's ``timezone``; ``holidays`` maps dates to :class:`SpecialDay` entries
    that replace the weekly hours on that date (closures and special hours).
    """

    id: str
    name: str
    address: str
    city: str
    postal_code: str = ""
    country: str = ""
    phone: str = ""
    email: str = ""
    timezone: str = "UTC"
    hours: dict[str, str] = Field(default_factory=dict)
    holidays: dict[date, SpecialDay] = Field(default_factory=dict)
    services: tuple[str, ...] = ()

    @field_validator("hours")
    @classmethod
    def _check_hours(cls, hours: dict[str, str]) -> dict[str, str]:
        for day, spec in hours.items():
            if day not in WEEKDAYS:
                raise ValueError(f"unknown weekday {day!r}; use {', '.join(WEEKDAYS)}")
            _check_spec(spec, day)
        return hours

    @field_validator("timezone")
    @classmethod
    def _check_tz(cls, tz: str) -> str:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown time zone {tz!r}") from e
        return tz

    def local(self, at: datetime) -> datetime:
        """``at`` on the store's clock; a naive ``at`` is read as UTC."""
        return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(ZoneInfo(self.timezone))

    def opening(self, day: date) -> tuple[time, time] | None:
        """Opening and closing time on ``day`` (special days first), or None when closed."""
        special = self.holidays.get(day)
        return _parse_spec(special.hours if special else str(self.hours.get(WEEKDAYS[day.weekday()], "closed")))

    def is_open(self, at: datetime) -> bool:
        """Whether the store is open at ``at``; naive times are read as store-local."""
        local = self.local(at) if at.tzinfo else at
        hours = self.opening(local.date())
        if hours is None:
            return False
        return hours[0] <= local.time() < hours[1]

    def special_days(self, start: date, days: int) -> list[tuple[date, SpecialDay]]:
        """The special days from ``start`` for ``days`` days (``start`` included), by date."""
        end = start + timedelta(days=days)
        return sorted(((day, special) for day, special in self.holidays.items() if start <= day < end),
                      key=lambda pair: pair[0])

    def hours_text(self, lang: str = "en") -> str:
        """The weekly hours, one line per day, in ``lang`` (``en`` or ``zh``)."""
        names = _DAY_NAMES.get(lang, _DAY_NAMES["en"])
        closed = _CLOSED.get(lang, _CLOSED["en"])
        lines = []
        for i, day in enumerate(WEEKDAYS):
            spec = str(self.hours.get(day, "closed")).strip()
            lines.append(f"{names[i]} {closed if spec.lower() == 'closed' else spec.replace('-', '–')}")
        return "\n".join(lines)


class _StoresDoc(_Frozen):
    stores: tuple[Store, ...]


def load_stores(path: str | Path) -> tuple[Store, ...]:
    """Read ``stores.yaml``."""
    doc = _validate(path, _StoresDoc, _read_yaml(path))
    return doc.stores


# --------------------------------------------------------------------------- policies


class Policy(_Frozen):
    """One policy / FAQ entry: the ways people ask and the answer per language."""

    id: str
    title: str
    topic: str = ""
    questions: tuple[str, ...] = ()
    answer: dict[str, str]

    @field_validator("answer")
    @classmethod
    def _needs_en(cls, answer: dict[str, str]) -> dict[str, str]:
        if not answer.get("en"):
            raise ValueError("an English answer ('en') is required")
        return answer

    def answer_in(self, lang: str) -> str:
        """The answer in ``lang``, falling back to English."""
        return self.answer.get(lang) or self.answer["en"]


class ReturnsRules(_Frozen):
    window_days: int = 30
    final_sale_tags: tuple[str, ...] = ()
    non_returnable_types: tuple[str, ...] = ()
    refund_days: int = 5


class PolicyBook(_Frozen):
    """Everything in ``policies.yaml``: rules actions read, and the FAQ entries."""

    returns: ReturnsRules = ReturnsRules()
    shipping: dict[str, Any] = Field(default_factory=dict)
    exchanges: dict[str, Any] = Field(default_factory=dict)
    loyalty: dict[str, Any] = Field(default_factory=dict)
    policies: tuple[Policy, ...]

    def get(self, policy_id: str) -> Policy | None:
        return next((p for p in self.policies if p.id == policy_id), None)

    def passages(self) -> list[Passage]:
        """One retrieval passage per policy: the English answer, questions as extra keys."""
        return [
            Passage(id=p.id, title=p.title, text=p.answer["en"], keys=p.questions,
                    meta={"kind": "policy", "topic": p.topic})
            for p in self.policies
        ]


def load_policies(path: str | Path) -> PolicyBook:
    """Read ``policies.yaml``; ids must be unique."""
    book: PolicyBook = _validate(path, PolicyBook, _read_yaml(path))
    _check_unique(path, [p.id for p in book.policies])
    return book


def _check_unique(path: str | Path, ids: Sequence[str]) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise CatalogError(str(path), f"duplicate id {i!r}")
        seen.add(i)


# --------------------------------------------------------------------------- procedures


def _numbered_steps(body: str) -> list[str]:
    return [re.sub(r"^\d+[.)]\s*", "", s).strip() for s in body.strip().splitlines() if s.strip()]


class ProcedureText(_Frozen):
    """A procedure's title and steps in another language (``translations.<lang>`` in ``procedures.yaml``)."""

    title: str
    body: str


class Procedure(_Frozen):
    """A staff standard operating procedure; ``body`` holds numbered steps (English).

    ``translations`` holds the same procedure in other languages (``zh``: Simplified
    Chinese); a language without one is answered in English.
    """

    id: str
    title: str
    tags: tuple[str, ...] = ()
    body: str
    translations: dict[str, ProcedureText] = {}

    @property
    def steps(self) -> list[str]:
        return _numbered_steps(self.body)

    def localized(self, lang: str) -> tuple[str, list[str]]:
        """(title, steps) in ``lang``; English when the procedure has no such translation."""
        text = self.translations.get(lang)
        if text is None:
            return self.title, self.steps
        return text.title, _numbered_steps(text.body)


class _ProceduresDoc(_Frozen):
    procedures: tuple[Procedure, ...]


def load_procedures(path: str | Path) -> tuple[Procedure, ...]:
    """Read ``procedures.yaml``; ids must be unique."""
    doc = _validate(path, _ProceduresDoc, _read_yaml(path))
    _check_unique(path, [p.id for p in doc.procedures])
    return doc.procedures


class _ProcedureQuestionsDoc(_Frozen):
    questions: dict[str, tuple[str, ...]]


def load_procedure_questions(path: str | Path, procedures: Sequence[Procedure]) -> dict[str, tuple[str, ...]]:
    """Read ``procedure_questions.yaml``: per SOP id, the ways staff ask for it.

    Raises:
        CatalogError: the file is unreadable, or names an SOP that does not exist.
    """
    doc = _validate(path, _ProcedureQuestionsDoc, _read_yaml(path))
    known = {p.id for p in procedures}
    unknown = sorted(set(doc.questions) - known)
    if unknown:
        raise CatalogError(str(path), f"questions for unknown SOP ids: {', '.join(unknown)}")
    return {sop: tuple(q.strip() for q in qs if q.strip()) for sop, qs in doc.questions.items()}


def procedure_passages(
    procedures: Sequence[Procedure], questions: dict[str, tuple[str, ...]] | None = None
) -> list[Passage]:
    """One retrieval passage per procedure (title, tags and steps); its staff questions are its keys."""
    questions = questions or {}
    return [
        Passage(id=p.id, title=p.title, text=f"{' '.join(p.tags)}. {' '.join(p.steps)}",
                meta={"kind": "procedure"}, keys=questions.get(p.id, ()))
        for p in procedures
    ]


# --------------------------------------------------------------------------- orders


class OrderStatus(str, Enum):
    PENDING = "pending"
    PAID = "paid"
    FULFILLED = "fulfilled"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


class Customer(_Frozen):
    name: str
    email: str = ""
    phone: str = ""  # E.164


class LineItem(_Frozen):
    id: str | None = None  # the shop's line item id (Shopify: a GID), when the backend has one
    handle: str
    sku: str
    title: str
    variant_title: str = ""
    quantity: int = Field(ge=1)
    price: Decimal

    @property
    def total(self) -> Decimal:
        return self.price * self.quantity


_ORDER_NO_RE = re.compile(r"^\s*(?:order\s*)?(?:no\.?\s*)?(?:#|sk-?|SK-?)?\s*(\d{3,8})\s*$", re.IGNORECASE)
#: A shop's own order-name prefix (Shopify lets a shop name its orders "#R-1001"): kept, upper-cased.
_PREFIXED_ORDER_NO_RE = re.compile(r"^\s*(?:order\s*)?(?:no\.?\s*)?#\s*([a-z]{1,4}-\d{3,8})\s*$", re.IGNORECASE)


def normalize_order_number(text: str) -> str | None:
    """``"#1001"``, ``"1001"``, ``"SK-1001"``, ``"order 1001"`` → ``"#1001"``; a shop's own prefix is kept
    (``"#r-2231"`` → ``"#R-2231"``); else None."""
    if match := _ORDER_NO_RE.match(text):
        return f"#{match.group(1)}"
    if match := _PREFIXED_ORDER_NO_RE.match(text):
        return f"#{match.group(1).upper()}"
    return None


class Order(_Frozen):
    number: str
    id: str | None = None  # the shop's order id (Shopify: a GID), when the backend has one
    customer: Customer
    created_at: datetime
    status: OrderStatus
    currency: str = "USD"
    line_items: tuple[LineItem, ...]
    shipping_city: str | None = None
    pickup_store: str | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    fulfilled_at: datetime | None = None
    delivered_at: datetime | None = None
    cancelled_at: datetime | None = None

    @property
    def total(self) -> Decimal:
        return sum((li.total for li in self.line_items), Decimal(0))

    def return_deadline(self, window_days: int) -> date | None:
        """Last day a return is accepted: ``window_days`` after delivery."""
        if self.delivered_at is None:
            return None
        return self.delivered_at.date() + timedelta(days=window_days)

    def within_return_window(self, today: date, window_days: int) -> bool:
        deadline = self.return_deadline(window_days)
        return deadline is not None and today <= deadline and self.status == OrderStatus.DELIVERED

    def matches_contact(self, value: str) -> bool:
        """True when ``value`` is the order's email (case-insensitive) or phone (digits)."""
        value = value.strip()
        if "@" in value:
            return value.lower() == self.customer.email.lower()
        digits = re.sub(r"\D", "", value)
        mine = re.sub(r"\D", "", self.customer.phone)
        return bool(digits) and len(digits) >= 7 and (mine.endswith(digits) or digits.endswith(mine))


class OrderBook(_Frozen):
    """The demo order backend. ``demo_today`` is the date the demo treats as today."""

    demo_today: date | None = None
    orders: tuple[Order, ...]

    def find(self, number: str) -> Order | None:
        """Look an order up by any accepted number form (``#1001``, ``SK-1001``, ``1001``)."""
        key = normalize_order_number(number)
        return next((o for o in self.orders if o.number == key), None) if key else None

    def for_contact(self, value: str) -> list[Order]:
        """Orders whose email or phone matches ``value``, newest first."""
        found = [o for o in self.orders if o.matches_contact(value)]
        return sorted(found, key=lambda o: o.created_at, reverse=True)

    def today(self, override: date | None = None) -> date:
        """``override`` (e.g. a setting), else ``demo_today``, else the real date."""
        return override or self.demo_today or date.today()


def load_orders(path: str | Path) -> OrderBook:
    """Read ``orders.yaml``; order numbers must be unique."""
    book: OrderBook = _validate(path, OrderBook, _read_yaml(path))
    _check_unique(path, [o.number for o in book.orders])
    return book
