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

Replies in Chinese are judged by the same rules (the zh templates keep the
SOP id, the product title and handle, and the order number in the same
places). The Chinese set, ``tests/data/staff_zh.yaml``, is in the
repository and runs whether or not ``../shared`` is there.

Prints per-kind scores and the misses, and writes
``<out>/staff_eval.json`` (the team's set) and ``<out>/staff_zh_eval.json``.
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
_CITED = re.compile(r"[(（]SOP `([a-z0-9_]+)`[)）]")
#: "Stock (available) for *Title*" (en) or "*Title*（`handle`）…的库存（可售）" (zh).
_STOCK_TITLE = re.compile(r"Stock \(available\) for \*([^*]+)\*|\*([^*\n]+)\*（`[^`]*`）[^\n]*的库存（可售）")
_TABLE = re.compile(r"```\n(.*?)\n```", re.DOTALL)
_ORDER_SHOWN = re.compile(r"\*(?:Order|订单) (#\d+)\*")
_ITEMS = ("Items:", "商品：")
_STAFF_ONLY = ("limited to authorised staff", "仅限授权员工")
_UNSURE = ("closest entries", "最接近的")
#: Phrases of a decline: the helpdesk's own off-topic reply or its generic fallback (en, zh).
_DECLINES = ("can't help with that", "isn't something i can help", "sorry, i didn't get that",
             "i'm not sure what you need", "这个我帮不上忙", "抱歉，我没看懂", "我不太确定你需要什么")
_NOT_DECLINES = ("SOP `", "Stock (available)", "的库存（可售）", "*Order ", "*订单 ", *_STAFF_ONLY, *_UNSURE,
                 "Did you mean", "你是指", "Just to be sure", "想确认一下", "Shoppers waiting", "No shoppers are waiting",
                 "等待或正在与人工交流", "目前没有顾客在等待")
#: The Chinese staff questions (held out; ``staff_zh_dev.yaml`` beside it is for development).
ZH_QUESTIONS = Path(__file__).resolve().parents[2] / "tests" / "data" / "staff_zh.yaml"


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
    if not cited or any(p in text for p in _UNSURE):
        return False, _summary(text)
    return cited[0] in question.sops, f"SOP {cited[0]}"


def judge_stock(question: Question, text: str) -> tuple[bool, str]:
    match = _STOCK_TITLE.search(text)
    if match is None:
        return False, _summary(text)
    title = match.group(1) or match.group(2)
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
    staff_ok = shown is not None and any(p in staff_text for p in _ITEMS)
    other_ok = (any(p in other_text for p in _STAFF_ONLY) and not any(p in other_text for p in _ITEMS)
                and _ORDER_SHOWN.search(other_text) is None)
    got = f"staff: {_summary(staff_text)} | other: {_summary(other_text)}"
    return staff_ok and other_ok, got


class StaffAsker:
    """Sends each question as a new conversation through the helpdesk's dialogue manager."""

    def __init__(self, handle: Any, prefix: str = "eval") -> None:
        self._handle = handle
        self._prefix = prefix  # one per question set: conversations and deliveries never repeat
        self._n = 0

    async def ask(self, text: str, *, user: str) -> list[Reply]:
        self._n += 1
        key = ConversationKey(platform=Platform.CONSOLE, bot=BOT, chat=f"{self._prefix}-{self._n}-{user}")
        message = IncomingMessage(conversation=key, user_id=user, text=text, delivery_id=f"{self._prefix}-{self._n}")
        return await self._handle(message)


async def run_questions(handle: Any, questions: Sequence[Question],
                        prefix: str = "eval") -> tuple[list[Outcome], list[float]]:
    """Ask every question; returns the outcomes and the per-message latency in ms."""
    asker = StaffAsker(handle, prefix)
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
    return (await evaluate_sets([questions_path]))[0]


async def evaluate_sets(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Score several question files with one helpdesk (built once, as ``shopkeep chat`` builds it)."""
    from bots.runtime import Runtime
    from core.settings import Settings

    settings = Settings().model_copy(update={"redis_url": None, "staff_allowlist": STAFF_USER})
    sets = [(path, load_questions(path)) for path in paths]
    results = []
    async with Runtime.open(settings, bot=BOT) as runtime:
        for i, (path, questions) in enumerate(sets):
            outcomes, latencies = await run_questions(runtime.manager.handle, questions, prefix=f"eval{i}")
            results.append(_result(path, outcomes, latencies, encoder=settings.encoder))
    return results


def _result(questions_path: Path, outcomes: list[Outcome], latencies: list[float], *,
            encoder: str) -> dict[str, Any]:
    totals: Counter[str] = Counter(o.kind for o in outcomes)
    right: Counter[str] = Counter(o.kind for o in outcomes if o.right)
    lat = sorted(latencies)
    return {
        "questions": str(questions_path),
        "encoder": encoder,
        "scores": {kind: {"right": right[kind], "total": totals[kind],
                          "share": round(right[kind] / totals[kind], 4) if totals[kind] else None}
                   for kind in ("procedure", "stock", "order_lookup", "off_topic")},
        "latency_ms": {"p50": round(lat[len(lat) // 2], 2), "p95": round(lat[int(0.95 * (len(lat) - 1))], 2)}
        if lat else {},
        "outcomes": [asdict(o) for o in outcomes],
    }


def main(folder: Path | None, out: Path, *, zh: Path | None = ZH_QUESTIONS) -> None:
    """``shopkeep eval --part staff``: print per-kind scores and the misses; write JSON under ``out``.

    ``folder``: the team's folder holding ``questions.yaml`` (skipped when None or missing);
    ``zh``: the Chinese question set (skipped when None).
    """
    import typer

    runs: list[tuple[str, Path, str]] = []
    if folder is not None and (folder / "questions.yaml").is_file():
        runs.append(("development questions", folder / "questions.yaml", "staff_eval.json"))
    elif folder is not None:
        typer.echo(f"eval staff: {folder / 'questions.yaml'} not found; the team's set skipped", err=True)
    if zh is not None:
        runs.append((f"Chinese questions, {zh.name}", zh, "staff_zh_eval.json"))
    if not runs:
        raise typer.Exit(code=1)
    results = asyncio.run(evaluate_sets([path for _, path, _ in runs]))
    out.mkdir(parents=True, exist_ok=True)
    for (label, _, filename), result in zip(runs, results):
        for o in result["outcomes"]:
            if not o["right"]:
                typer.echo(f"  miss [{o['kind']}] {o['q']!r}\n       expected {o['expected']}; got {o['got']}")
        typer.echo(f"staff helpdesk ({label}; encoder {result['encoder']}):")
        for kind, s in result["scores"].items():
            if s["total"]:
                typer.echo(f"  {kind:13} {s['right']:3d}/{s['total']:<3d} {100 * s['share']:5.1f}%")
        right = sum(s["right"] for s in result["scores"].values())
        total = sum(s["total"] for s in result["scores"].values())
        typer.echo(f"  {'all':13} {right:3d}/{total:<3d} {100 * right / total:5.1f}%")
        if result["latency_ms"]:
            typer.echo(f"  latency per message (in-process, incl. state): p50 {result['latency_ms']['p50']} ms, "
                       f"p95 {result['latency_ms']['p95']} ms")
        path = out / filename
        path.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
        typer.echo(f"  -> {path}")
