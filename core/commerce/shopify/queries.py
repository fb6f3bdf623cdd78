"""Every GraphQL document Shopkeep sends to the Admin API (version 2025-01).

They are validated against Shopify's published 2025-01 schema by the test
stand-in (``tests/adapters/standins/shopify``), so a misspelt field or a
wrong argument fails the tests exactly as it would fail on Shopify.

Page sizes keep each query's requested cost well under Shopify's 1,000-point
single-query limit (a connection costs about 2 + ``first`` × its node).
"""

from __future__ import annotations

PRODUCT_PAGE_SIZE = 80
VARIANT_PAGE_SIZE = 200

PRODUCTS_PAGE = """
query ShopkeepProducts($first: Int!, $after: String) {
  products(first: $first, after: $after, sortKey: ID) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id
      handle
      title
      descriptionHtml
      vendor
      productType
      tags
      status
      publishedAt
      isGiftCard
      updatedAt
      category { fullName }
      options { name position }
      images(first: 5) { nodes { url } }
    }
  }
}
"""

VARIANTS_PAGE = """
query ShopkeepVariants($first: Int!, $after: String) {
  productVariants(first: $first, after: $after, sortKey: ID) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id
      sku
      title
      price
      compareAtPrice
      inventoryPolicy
      inventoryQuantity
      selectedOptions { name value }
      product { id }
      inventoryItem { id tracked }
    }
  }
}
"""

INVENTORY_ITEM = """
query ShopkeepInventoryItem($id: ID!) {
  inventoryItem(id: $id) {
    id
    tracked
    variant { id inventoryQuantity product { id } }
  }
}
"""

STOCK_LEVELS = """
query ShopkeepStockLevels($id: ID!) {
  productVariant(id: $id) {
    id
    sku
    inventoryItem {
      tracked
      inventoryLevels(first: 50) {
        nodes {
          location { id name }
          quantities(names: ["available", "on_hand", "committed", "incoming"]) { name quantity }
        }
      }
    }
  }
}
"""

ORDER_BY_NAME = """
query ShopkeepOrder($query: String!) {
  orders(first: 1, query: $query) {
    nodes {
      id
      name
      email
      phone
      createdAt
      cancelledAt
      currencyCode
      displayFinancialStatus
      displayFulfillmentStatus
      customer { displayName }
      shippingAddress { city }
      fulfillments(first: 10) {
        id
        status
        displayStatus
        createdAt
        deliveredAt
        trackingInfo(first: 5) { company number url }
      }
      lineItems(first: 50) {
        nodes {
          id
          title
          variantTitle
          sku
          quantity
          product { handle }
          originalUnitPriceSet { shopMoney { amount currencyCode } }
        }
      }
    }
  }
}
"""

ORDER_CANCEL = """
mutation ShopkeepOrderCancel($orderId: ID!, $reason: OrderCancelReason!, $staffNote: String) {
  orderCancel(orderId: $orderId, reason: $reason, refund: true, restock: true, notifyCustomer: true,
              staffNote: $staffNote) {
    job { id done }
    orderCancelUserErrors { field message code }
  }
}
"""

RETURNABLE_FULFILLMENTS = """
query ShopkeepReturnable($orderId: ID!) {
  returnableFulfillments(orderId: $orderId, first: 5) {
    nodes {
      id
      returnableFulfillmentLineItems(first: 25) {
        nodes {
          quantity
          fulfillmentLineItem { id lineItem { id sku title variantTitle } }
        }
      }
    }
  }
}
"""

RETURN_REQUEST = """
mutation ShopkeepReturnRequest($input: ReturnRequestInput!) {
  returnRequest(input: $input) {
    return { id name status }
    userErrors { field message code }
  }
}
"""

SHOP = """
query ShopkeepShop {
  shop { name currencyCode myshopifyDomain ianaTimezone url }
}
"""

ALL = {
    "PRODUCTS_PAGE": PRODUCTS_PAGE,
    "VARIANTS_PAGE": VARIANTS_PAGE,
    "INVENTORY_ITEM": INVENTORY_ITEM,
    "STOCK_LEVELS": STOCK_LEVELS,
    "ORDER_BY_NAME": ORDER_BY_NAME,
    "ORDER_CANCEL": ORDER_CANCEL,
    "RETURNABLE_FULFILLMENTS": RETURNABLE_FULFILLMENTS,
    "RETURN_REQUEST": RETURN_REQUEST,
    "SHOP": SHOP,
}
