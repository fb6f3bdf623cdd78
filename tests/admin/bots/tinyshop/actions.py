"""The tiny shop's actions: small talk by template, and a search over a few products.

The products live here on purpose (one of them has a title a browser would run as
script if it were not escaped): the dashboard tests need a search that reports its
result count, products viewed and cart adds, without the full catalogue.
"""

from __future__ import annotations

from core.actions import ActionContext, ActionRegistry
from core.events import AddedToCart, ItemViewed, Searched

registry = ActionRegistry(templates=("search_results", "search_none"))
registry.replies({"greet": "greet", "goodbye": "goodbye", "thanks": "thanks", "store_hours": "store_hours",
                  "returns": "returns"})

PRODUCTS = {
    "hoodie-red": "Red Hoodie",
    "mug-blue": "Blue Mug",
    "xss-tee": "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned=2\"> Tee",
}


@registry.intent("product_search")
async def product_search(ctx: ActionContext) -> None:
    words = {w.strip("?!.,").lower() for w in ctx.understanding.text.split()}
    hits = [(item, title) for item, title in PRODUCTS.items()
            if words & {w.lower() for w in title.replace("<", " ").replace(">", " ").split()}]
    ctx.report(Searched(query=ctx.understanding.text, results=len(hits)))
    if not hits:
        ctx.say("search_none")
        return
    for item, title in hits:
        ctx.report(ItemViewed(item_id=item, title=title))
    item, title = hits[0]
    ctx.report(AddedToCart(item_id=item, title=title, quantity=1))
    ctx.say("search_results", count=len(hits), titles=", ".join(t for _, t in hits))
