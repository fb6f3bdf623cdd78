"""The shopping assistant's actions, assembled: one :data:`registry` and :func:`setup` for the bot loader.

The handlers live in modules named after what they do:

* :mod:`.products`: search and refinements, details, similar / "goes with", stock questions;
* :mod:`.cart`: add, remove, view, checkout link;
* :mod:`.orders`: order status after verification;
* :mod:`.returns`: returns and exchanges;
* :mod:`.alerts`: back-in-stock updates and ``/notify``;
* :mod:`.stores`: store hours and locations;
* :mod:`.policies`: policy questions and the sizing guide;
* :mod:`.smalltalk`: greetings, complaints, asking for a person;
* :mod:`.services`: the registry, the services built by ``setup`` and small helpers they share.

Conversation data kept in ``state.data`` (JSON only; :mod:`.memory` reads and writes the records typed):

* ``search``: the last search (:class:`.memory.SearchContext`: query, filters, offset), so
  follow-ups ("cheaper", "in blue", "size M", "show more") refine it;
* ``shown``: handles of the last product list, for "the second one";
* ``focus``: the handle of the product talked about last;
* ``cart``: lines (:class:`.memory.CartLine`: sku, variant id, handle, title, variant, price, qty);
* ``verified_orders``: order numbers this conversation proved it owns;
* ``returns``: booked returns/exchanges ``{"rma", "kind", "order", "sku", "reason"}``.
"""

from __future__ import annotations

# Importing a module registers its handlers; the order is the order overrides run in.
from bots.shop_assistant import alerts, cart, orders, policies, products, returns, smalltalk, stores
from bots.shop_assistant.cart import checkout_url
from bots.shop_assistant.services import ShopServices, registry, setup

# Commands beyond the generic ones (/start /help /lang /why /forget /human /cancel):
# every platform lists and runs them (core/commands.py).
registry.command("cart", intent="view_cart", description="command_cart")
registry.command("orders", intent="order_status", description="command_orders", accepts_text=True)
registry.command("notify", intent="manage_notifications", description="command_notify", accepts_text=True)

__all__ = [
           "ShopServices",
           "alerts",
           "cart",
           "checkout_url",
           "orders",
           "policies",
           "products",
           "registry",
           "returns",
           "setup",
           "smalltalk",
           "stores",
]
