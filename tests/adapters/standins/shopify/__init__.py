"""A local stand-in for Shopify's Admin GraphQL API (2025-01) and its webhooks.

The schema it validates against is Shopify's own (``admin_schema_2025-01.json.gz``,
ISC licence in ``LICENSE``, copied from Shopify's ``dev-mcp`` repository).
"""

from tests.adapters.standins.shopify.data import FakeShop, rest_product, synthetic_shop
from tests.adapters.standins.shopify.server import ShopifyAdminStandin, deliver, webhook_headers

__all__ = ["FakeShop", "ShopifyAdminStandin", "deliver", "rest_product", "synthetic_shop", "webhook_headers"]
