"""The cart: adding (with the variant asked for), removing, viewing, the checkout link."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from bots.shop_assistant.memory import CartLine, cart_lines, save_cart
from bots.shop_assistant.products import target_product, variants_said
from bots.shop_assistant.services import content_words, ent, pick, price, registry, shop_url, svc
from core.actions import ActionContext
from core.commerce.catalog import Product, Variant
from core.events import AddedToCart, CheckoutLinked
from core.messages import Button


def _cart_total(cart: Sequence[CartLine]) -> Decimal:
    return sum((line.subtotal for line in cart), Decimal(0))


def _cart_buttons(ctx: ActionContext) -> list[Button]:
    return [ctx.button("button_view_cart", "intent:view_cart"), ctx.button("button_checkout", "intent:checkout")]


def _quantity(ctx: ActionContext) -> int:
    qty = ent(ctx, "quantity")
    return qty if isinstance(qty, int) and 0 < qty <= 20 else 1


def add_variant(ctx: ActionContext, product: Product, variant: Variant, qty: int = 1) -> bool:
    """Put a buyable variant in the cart; refuses (and says so) when it is not buyable."""
    label = variant.title if variant.options and variant.title != "Default Title" else "-"
    if not (product.offered and variant.buyable):
        ctx.say("unavailable", title=product.title, variant=label)
        return False
    cart = cart_lines(ctx.state)
    line = next((item for item in cart if item.sku == variant.sku and item.handle == product.handle
                 and item.variant == label), None)
    if line is None:
        cart.append(CartLine(sku=variant.sku, variant_id=variant.id, handle=product.handle, title=product.title,
                             variant=label, price=variant.price, qty=qty))
    else:
        line.qty += qty
    save_cart(ctx.state, cart)
    ctx.state.data["focus"] = product.handle
    ctx.cite(f"product:{product.handle}")
    ctx.report(AddedToCart(item_id=product.handle, title=product.title, quantity=qty))
    ctx.say("added", buttons=_cart_buttons(ctx), qty=qty, title=product.title, variant=label,
            count=sum(item.qty for item in cart), total=price(ctx, _cart_total(cart)))
    return True


async def _add_product(ctx: ActionContext, product: Product, *, from_button: bool = False) -> None:
    """Add a product, asking which variant when several buyable ones fit."""
    candidates = variants_said(ctx, product, from_button=from_button)
    if not candidates:
        ctx.say("not_found_variant", title=product.title,
                available=", ".join(v.title for v in product.variants if v.buyable) or "-")
        return
    buyable = [v for v in candidates if v.buyable]
    if len(buyable) == 1:
        add_variant(ctx, product, buyable[0], _quantity(ctx))
    elif not buyable:
        ctx.say("unavailable", title=product.title,
                variant=candidates[0].title if len(candidates) == 1 else "-")
    else:
        ctx.state.data["focus"] = product.handle
        buttons = [Button(label=v.title, payload=f"variant:{v.sku}") for v in buyable[:24]]
        ctx.say("choose_variant", buttons=buttons, title=product.title)


@registry.intent("add_to_cart", templates=("added", "unavailable", "not_found_variant", "choose_variant"))
async def add_to_cart(ctx: ActionContext) -> None:
    product = target_product(ctx)
    if product is None:
        ctx.say("which_product")
        return
    await _add_product(ctx, product)


@registry.payload("add:")
async def add_button(ctx: ActionContext, sku_or_handle: str) -> None:
    catalog = svc(ctx).catalog
    found = catalog.find_variant(sku_or_handle)
    if found is not None:
        add_variant(ctx, *found)
        return
    product = target_product(ctx, sku_or_handle)
    if product is None:
        ctx.say("which_product")
        return
    await _add_product(ctx, product, from_button=True)


@registry.payload("variant:")
async def variant_button(ctx: ActionContext, sku: str) -> None:
    found = svc(ctx).catalog.find_variant(sku)
    if found is None:
        ctx.say("which_product")
        return
    add_variant(ctx, *found)


def _remove(ctx: ActionContext, sku: str) -> None:
    cart = cart_lines(ctx.state)
    line = next((item for item in cart if item.sku == sku), None)
    if line is None:
        ctx.say("remove_which")
        return
    cart.remove(line)
    save_cart(ctx.state, cart)
    ctx.say("removed", title=line.title, count=sum(i.qty for i in cart), total=price(ctx, _cart_total(cart)))


@registry.intent("remove_from_cart", templates=("removed", "remove_which", "cart_empty"))
async def remove_from_cart(ctx: ActionContext) -> None:
    cart = cart_lines(ctx.state)
    if not cart:
        ctx.say("cart_empty")
        return
    if (picked := pick(ctx, cart)) is not None:
        _remove(ctx, picked.sku)
        return
    words = content_words(ctx.understanding.text)
    named = [line for line in cart if content_words(line.title) & words]
    if len(named) == 1 or len(cart) == 1:
        _remove(ctx, (named or cart)[0].sku)
        return
    buttons = [ctx.button("button_remove", f"remove:{line.sku}", title=line.title) for line in cart]
    ctx.say("remove_which", buttons=buttons)


@registry.payload("remove:")
async def remove_button(ctx: ActionContext, sku: str) -> None:
    _remove(ctx, sku)


@registry.intent("view_cart", templates=("cart_view",))
async def view_cart(ctx: ActionContext) -> None:
    cart = cart_lines(ctx.state)
    if not cart:
        ctx.say("cart_empty")
        return
    gone = ctx.text("cart_line_gone")
    lines = "\n".join(
        f"{i}. {line.title}" + (f" ({line.variant})" if line.variant != "-" else "")
        + f" × {line.qty}: {price(ctx, line.subtotal)}"
        + ("" if still_offered(ctx, line) else f" {gone}")
        for i, line in enumerate(cart, 1)
    )
    ctx.say("cart_view", buttons=[ctx.button("button_checkout", "intent:checkout")],
            count=sum(line.qty for line in cart), lines=lines,
            total=price(ctx, _cart_total([line for line in cart if still_offered(ctx, line)])))


def still_offered(ctx: ActionContext, line: CartLine) -> bool:
    """Whether a cart line can still be bought (the shop may have deleted, hidden or sold it out since)."""
    catalog = svc(ctx).catalog
    found = (catalog.find_variant(line.variant_id) if line.variant_id else None) \
        or (catalog.find_variant(line.sku) if line.sku else None)
    if found is None or found[0].handle != line.handle:
        # Exports without SKUs (or sharing one): the line's product and variant title say which.
        product = catalog.get(line.handle)
        variant = next((v for v in product.variants if v.title == line.variant or line.variant == "-"),
                       None) if product is not None else None
        found = (product, variant) if product is not None and variant is not None else None
    return found is not None and found[0].offered and found[1].buyable


def checkout_url(cart: Sequence[CartLine], *, shop_url: str, template: str) -> str:
    """Shopify cart permalink when every line has a variant id, else the SKU template."""
    if all(line.variant_id for line in cart):
        return f"{shop_url}/cart/" + ",".join(f"{line.variant_id}:{line.qty}" for line in cart)
    items = ",".join(f"{line.sku or line.handle}:{line.qty}" for line in cart)
    return template.format(shop_url=shop_url, items=items)


@registry.intent("checkout", templates=("checkout_link", "checkout_skipped", "cart_line_gone"))
async def checkout(ctx: ActionContext) -> None:
    cart = cart_lines(ctx.state)
    if not cart:
        ctx.say("cart_empty")
        return
    buyable = [line for line in cart if still_offered(ctx, line)]
    gone = [line for line in cart if line not in buyable]
    if gone:
        ctx.say("checkout_skipped", titles=", ".join(line.title for line in gone))
    if not buyable:
        return
    ctx.report(CheckoutLinked(items=sum(line.qty for line in buyable), total=_cart_total(buyable)))
    url = checkout_url(buyable, shop_url=shop_url(ctx), template=ctx.settings.cart_link_template)
    ctx.say("checkout_link", url=url, total=price(ctx, _cart_total(buyable)))
