"""The staff helpdesk's development benchmark (``shopkeep eval --part staff``).

Reads ``questions.yaml`` from the team's folder (``../shared/staff``; never
copied into the repository) and sends each question, as its own new
conversation, through the same runtime and dialogue manager that
``shopkeep chat --bot staff_helpdesk --json`` uses. Each reply is scored by
the rules of that folder's README:

* **procedure**: the first SOP cited as ``(SOP `<id>`)`` is the expected id
  (or either id of a pair); the "not sure" list and a clarifying question
  are misses even when they name the right SOP;
* **stock**: "Stock (available) for *Title*" names the expected product and
  the table shows at least one unit count;
* **order look-up**: asked twice, from a user on the staff allowlist (the
  order, with its number and status, is shown) and from one who is not (the
  staff-only refusal, nothing of the order);
* **off-topic**: a polite decline (or the generic fallback), nothing else.

Prints per-kind scores and the misses, and writes
``<out>/staff_eval.json``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.messages import ConversationKey, IncomingMessage, Platform, Reply

BOT = "staff_helpdesk"
STAFF_USER = "U0EVALSTAFF"
OTHER_USER = "U0EVALOTHER"
_CITED = re.compile(r"\(SOP `([a-z0-9_]+)`\)")
_STOCK_TITLE = re.compile(r"Stock \(available\) for \*([^*]+)\*")
_TABLE = re.compile(r"```\n(.*?)\n```", re.DOTALL)
_ORDER_SHOWN = re.compile(r"\*Order (#\d+)\*")
_STAFF_ONLY = "limited to authorised staff"
#: Phrases of a decline: the helpdesk's own off-topic reply or its generic fallback.
_DECLINES = ("can't help with that", "isn't something i can help", "sorry, i didn't get that",
             "i'm not sure what you need")
_NOT_DECLINES = ("SOP `", "Stock (available)", "*Order ", _STAFF_ONLY, "closest entries", "Did you mean",
                 "Just to be sure", "Shoppers waiting", "No shoppers are waiting")


@dataclass(frozen=True)
class Question:
    """One development question and what counts as right for it."""

    q: str
    kind: str
    sops: tuple[str, ...] = ()
    product_re: str = ""

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> Question:
        if "sop" in entry:
            sop = entry["sop"]
            return cls(q=str(entry["q"]), kind="procedure", sops=tuple(sop) if isinstance(sop, list) else (sop,))
        return cls(q=str(entry["q"]), kind=str(entry["kind"]), product_re=str(entry.get("product_re", "")))


@dataclass
class Outcome:
    q: str
    kind: str
    right: bool
    expected: str
    got: str
    replies: list[str] = field(default_factory=list)


def load_questions(path: Path) -> list[Question]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, list):
        raise TypeError(f"{path}: not a YAML list")
    return [Question.from_entry(e) for e in raw]


def _text(replies: Sequence[Reply]) -> str:
    return "\n".join(r.text for r in replies)


def _summary(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else "(no reply)"
    return first[:140]


def judge_procedure(question: Question, text: str) -> tuple[bool, str]:
    cited = _CITED.findall(text)
    if not cited or "closest entries" in text:
        return False, _summary(text)
    return cited[0] in question.sops, f"SOP {cited[0]}"


def judge_stock(question: Question, text: str) -> tuple[bool, str]:
    match = _STOCK_TITLE.search(text)
    if match is None:
        return False, _summary(text)
    title = match.group(1)
    if not re.search(question.product_re, title, re.IGNORECASE):
        return False, f"stock for {title}"
    table = _TABLE.search(text)
    rows = table.group(1).splitlines()[1:] if table else []
    # The last cells of a row are the per-store counts; a SKU or size is not a count.
    counted = any(re.fullmatch(r"\d+", cell) for row in rows for cell in row.split()[-3:])
    return counted, f"stock for {title}" + ("" if counted else " (no count)")


def judge_off_topic(text: str) -> tuple[bool, str]:
    low = text.lower()
    declined = any(p in low for p in _DECLINES) and not any(p in text for p in _NOT_DECLINES)
    return declined, _summary(text)


def judge_order(staff_text: str, other_text: str) -> tuple[bool, str]:
    shown = _ORDER_SHOWN.search(staff_text)
    staff_ok = shown is not None and "Items:" in staff_text
    other_ok = _STAFF_ONLY in other_text and "Items:" not in other_text and "*Order " not in other_text
    got = f"staff: {_summary(staff_text)} | other: {_summary(other_text)}"
    return staff_ok and other_ok, got


class StaffAsker:
    """Sends each question as a new conversation through the helpdesk's dialogue manager."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self._n = 0

    async def ask(self, text: str, *, user: str) -> list[Reply]:
        self._n += 1
        key = ConversationKey(platform=Platform.CONSOLE, bot=BOT, chat=f"eval-{self._n}-{user}")
        message = IncomingMessage(conversation=key, user_id=user, text=text, delivery_id=f"eval-{self._n}")
        return await self._handle(message)


async def run_questions(handle: Any, questions: Sequence[Question]) -> tuple[list[Outcome], list[float]]:
    """Ask every question; returns the outcomes and the per-message latency in ms."""
    asker = StaffAsker(handle)
    outcomes: list[Outcome] = []
    latencies: list[float] = []

    async def timed(text: str, user: str) -> str:
        start = time.perf_counter()
        replies = await asker.ask(text, user=user)
        latencies.append(1000 * (time.perf_counter() - start))
        return _text(replies)

    for question in questions:
        if question.kind == "order_lookup":
            staff_text = await timed(question.q, STAFF_USER)
            other_text = await timed(question.q, OTHER_USER)
            right, got = judge_order(staff_text, other_text)
            outcomes.append(Outcome(q=question.q, kind=question.kind, right=right, expected="order / refusal",
                                    got=got, replies=[staff_text, other_text]))
            continue
        text = await timed(question.q, OTHER_USER)
        if question.kind == "procedure":
            right, got = judge_procedure(question, text)
            expected = " or ".join(question.sops)
        elif question.kind == "stock":
            right, got = judge_stock(question, text)
            expected = question.product_re
        elif question.kind == "off_topic":
            right, got = judge_off_topic(text)
            expected = "decline"
        else:
            raise ValueError(f"unknown kind {question.kind!r}")
        outcomes.append(Outcome(q=question.q, kind=question.kind, right=right, expected=expected, got=got,
                                replies=[text]))
    return outcomes, latencies


async def evaluate(questions_path: Path) -> dict[str, Any]:
    """Build the helpdesk as ``shopkeep chat`` does and score every question."""
    from bots.runtime import Runtime
    from core.settings import Settings

    settings = Settings().model_copy(update={"redis_url": None, "staff_allowlist": STAFF_USER})
    questions = load_questions(questions_path)
    async with Runtime.open(settings, bot=BOT) as runtime:
        outcomes, latencies = await run_questions(runtime.manager.handle, questions)
    totals: Counter[str] = Counter(o.kind for o in outcomes)
    right: Counter[str] = Counter(o.kind for o in outcomes if o.right)
    lat = sorted(latencies)
    return {
        "questions": str(questions_path),
        "scores": {kind: {"right": right[kind], "total": totals[kind],
                          "share": round(right[kind] / totals[kind], 4) if totals[kind] else None}
                   for kind in ("procedure", "stock", "order_lookup", "off_topic")},
        "latency_ms": {"p50": round(lat[len(lat) // 2], 2), "p95": round(lat[int(0.95 * (len(lat) - 1))], 2)}
        if lat else {},
        "outcomes": [asdict(o) for o in outcomes],
    }


def main(folder: Path, out: Path) -> None:
    """``shopkeep eval --part staff``: print per-kind scores and the misses; write JSON under ``out``."""
    import typer

    result = asyncio.run(evaluate(folder / "questions.yaml"))
    for o in result["outcomes"]:
        if not o["right"]:
            typer.echo(f"  miss [{o['kind']}] {o['q']!r}\n       expected {o['expected']}; got {o['got']}")
    typer.echo("staff helpdesk (development questions):")
    for kind, s in result["scores"].items():
        if s["total"]:
            typer.echo(f"  {kind:13} {s['right']:3d}/{s['total']:<3d} {100 * s['share']:5.1f}%")
    if result["latency_ms"]:
        typer.echo(f"  latency per message (in-process, incl. state): p50 {result['latency_ms']['p50']} ms, "
                   f"p95 {result['latency_ms']['p95']} ms")
    out.mkdir(parents=True, exist_ok=True)
    path = out / "staff_eval.json"
    path.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    typer.echo(f"  -> {path}")
