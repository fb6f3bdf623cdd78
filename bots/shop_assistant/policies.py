"""Policy questions answered by retrieval, with a confidence floor; the sizing guide."""

from __future__ import annotations

from bots.shop_assistant.services import registry, svc
from core.actions import ActionContext
from core.events import NotSure
from core.retrieval import CONFIDENT_FLOOR, confident, has_cjk


async def _answer_policy(ctx: ActionContext, policy_id: str | None = None) -> None:
    services = svc(ctx)
    policy = services.policies.get(policy_id) if policy_id else None
    if policy is None:
        hits = await services.policy_index.query(ctx.understanding.text, k=1,
                                                 query_embedding=ctx.understanding.embedding)
        hit = hits[0] if hits else None
        text = ctx.understanding.text
        calibration = services.policy_calibration
        cjk = calibration.cjk if calibration is not None and has_cjk(text) else None
        if hit is None or not confident(hit, cjk.floor if cjk is not None else CONFIDENT_FLOOR):
            ctx.report(NotSure(score=hit.score if hit is not None else 0.0))
            ctx.say("policy_unsure", buttons=[ctx.button("button_talk_to_human", "cmd:human")])
            return
        policy = services.policies.get(hit.passage.id)
    if policy is None:
        ctx.report(NotSure(score=0.0))
        ctx.say("policy_unsure", buttons=[ctx.button("button_talk_to_human", "cmd:human")])
        return
    ctx.cite(f"policy:{policy.id}")
    ctx.say("policy_answer", answer=policy.answer_in(ctx.lang))


@registry.intent("policy_question", templates=("policy_answer", "policy_unsure"))
async def policy_question(ctx: ActionContext) -> None:
    await _answer_policy(ctx)


@registry.intent("size_help")
async def size_help(ctx: ActionContext) -> None:
    await _answer_policy(ctx, "sizing_guide")
