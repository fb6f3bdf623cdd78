"""Full-width and traditional forms are read as their plain forms; Chinese questions get their own retrieval."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.retrieval import AnswerCalibration, Passage, PassageHit, has_cjk, passage_tokens, tokenize
from core.textnorm import _simplified_table, normalize_message, to_simplified


def test_full_width_forms_fold_to_ascii() -> None:
    assert normalize_message("订单＃１００１") == "订单#1001"
    assert normalize_message("ＸＬ码，ＮＷ－ＴＥＥ－００１") == "XL码,NW-TEE-001"
    assert normalize_message("\u3000hello\u3000world") == " hello world"


def test_common_traditional_characters_become_simplified() -> None:
    assert to_simplified("紅色連帽衫有貨嗎") == "红色连帽衫有货吗"
    assert normalize_message("訂單 #1001") == "订单 #1001"
    assert normalize_message("請問這條褲子還有XL號嗎") == "请问这条裤子还有XL号吗"
    assert normalize_message("how many hoodies in Midtown?") == "how many hoodies in Midtown?"
    assert normalize_message("レシートなしで返品") == "レシートなしで返品"  # kana untouched


def test_an_odd_run_in_the_variants_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "zh_variants.yaml"
    bad.write_text("pairs:\n  broken: 紅红連\n", encoding="utf-8")
    with pytest.raises(ValueError, match="zh_variants.yaml: an odd run"):
        _simplified_table(bad)


def test_chinese_text_is_also_indexed_by_character_pairs() -> None:
    assert has_cjk("没有小票") and has_cjk("ありがとう") and not has_cjk("no receipt")
    tokens = passage_tokens("没有小票 return")
    assert {"没", "有", "小", "票", "return"} <= set(tokens)
    assert {"没有", "有小", "小票"} <= set(tokens)
    assert passage_tokens("no receipt, please") == tokenize("no receipt, please")


def _hit(pid: str, score: float) -> PassageHit:
    return PassageHit(passage=Passage(id=pid, title=pid, text=""), score=score, semantic=score, keyword=0.0)


def test_chinese_questions_use_their_own_floor_and_margin() -> None:
    cal = AnswerCalibration(floor=0.5, margin=0.05, cjk=AnswerCalibration(floor=0.8, margin=0.01))
    hits = [_hit("a", 0.7), _hit("b", 0.6)]
    assert cal.decide(hits, "how do i refund") == "answer"
    assert cal.decide(hits, "怎么退款") == "unsure"
    close = [_hit("a", 0.9), _hit("b", 0.895)]
    assert cal.decide(close, "怎么退款") == "ask" and cal.decide([_hit("a", 0.9), _hit("b", 0.85)], "怎么退款") == "answer"
    assert AnswerCalibration(floor=0.5, margin=0.05).for_text("怎么退款").floor == 0.5
