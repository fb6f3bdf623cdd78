"""Generate the Northwind Outfitters demo catalogue, inventory and orders.

Deterministic (fixed seed): running it twice writes the same bytes. The
generated files are committed; run it only to change the demo data::

    .venv/bin/python bots/shop_assistant/data/generate_demo.py

Writes ``products.csv`` (Shopify product CSV export layout), ``orders.yaml``
next to this file and ``../../staff_helpdesk/data/inventory.csv`` (Shopify
inventory CSV export layout). ``stores.yaml``, ``policies.yaml`` and
``procedures.yaml`` are hand-written.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypedDict

import yaml

SEED = 20261128
HERE = Path(__file__).resolve().parent
STAFF_DATA = HERE.parent.parent / "staff_helpdesk" / "data"
COLOR_CODES = {
    "White": "WHT", "Black": "BLK", "Grey": "GRY", "Navy": "NVY", "Red": "RED", "Green": "GRN",
    "Yellow": "YEL", "Pink": "PNK", "Olive": "OLV", "Burgundy": "BUR", "Cream": "CRM", "Tan": "TAN",
    "Blue": "BLU", "Brown": "BRN",
}
CDN = "https://cdn.shopify.com/s/files/1/0612/3456/7890/products"

PRODUCT_COLUMNS = [
    "Handle", "Title", "Body (HTML)", "Vendor", "Product Category", "Type", "Tags", "Published",
    "Option1 Name", "Option1 Value", "Option2 Name", "Option2 Value", "Option3 Name",
    "Option3 Value", "Variant SKU", "Variant Grams", "Variant Inventory Tracker",
    "Variant Inventory Qty", "Variant Inventory Policy", "Variant Fulfillment Service",
    "Variant Price", "Variant Compare At Price", "Variant Requires Shipping", "Variant Taxable",
    "Variant Barcode", "Image Src", "Image Position", "Image Alt Text", "Gift Card", "SEO Title",
    "SEO Description", "Variant Image", "Variant Weight Unit", "Cost per item", "Status",
]
INVENTORY_COLUMNS = [
    "Handle", "Title", "Option1 Name", "Option1 Value", "Option2 Name", "Option2 Value",
    "Option3 Name", "Option3 Value", "SKU", "HS Code", "COO", "Location", "Incoming",
    "Unavailable", "Committed", "Available", "On hand",
]
LOCATIONS = ["Northwind Harbourfront", "Northwind Midtown", "Northwind Riverside Outlet"]


@dataclass(frozen=True)
class TypeSpec:
    name: str
    code: str
    singular: str
    category: str
    vendor: str
    price: tuple[int, int]
    grams: int
    size_name: str | None
    sizes: tuple[str, ...]
    colors: tuple[str, ...]
    nouns: tuple[str, ...]
    materials: tuple[str, ...]
    blurb: str
    features: tuple[str, ...]
    tags: tuple[str, ...]
    hs_code: str


APPAREL = "Apparel & Accessories > Clothing"
TYPES = [
    TypeSpec("T-Shirts", "TEE", "t-shirt", f"{APPAREL} > Clothing Tops > T-Shirts", "Northwind Basics",
             (18, 38), 180, "Size", ("XS", "S", "M", "L", "XL", "XXL"),
             ("White", "Black", "Grey", "Navy", "Red", "Green", "Yellow", "Pink"),
             ("Crew Tee", "Pocket Tee", "V-Neck Tee", "Graphic Tee", "Long Sleeve Tee", "Ringer Tee"),
             ("Organic Cotton", "Slub Cotton", "Supima", "Recycled", "Heavyweight", "Everyday"),
             "A soft, breathable t-shirt cut for an easy regular fit that holds its shape wash after wash.",
             ("100% organic cotton jersey", "Pre-shrunk and garment dyed", "Reinforced shoulder seams",
              "Tagless neck label"), ("cotton", "summer", "casual", "unisex", "basics"), "6109.10"),
    TypeSpec("Hoodies", "HOD", "hoodie", f"{APPAREL} > Activewear > Activewear Sweatshirts & Hoodies",
             "Northwind Basics", (42, 85), 620, "Size", ("XS", "S", "M", "L", "XL", "XXL"),
             ("Grey", "Black", "Navy", "Red", "Olive", "Burgundy", "Cream"),
             ("Pullover Hoodie", "Zip Hoodie", "Fleece Hoodie", "Sherpa Hoodie", "Heavyweight Hoodie"),
             ("Harbor", "Summit", "Campfire", "Trailhead", "Loopback", "Brushed"),
             "A cosy brushed-fleece hoodie that keeps you warm on cold mornings and chilly winter evenings.",
             ("Brushed fleece interior", "Lined hood with flat drawcords", "Kangaroo pocket",
              "Ribbed cuffs and hem"), ("fleece", "winter", "warm", "casual", "unisex", "layering"), "6110.20"),
    TypeSpec("Jackets", "JKT", "jacket", f"{APPAREL} > Outerwear > Coats & Jackets", "Northwind Outdoor",
             (89, 249), 950, "Size", ("XS", "S", "M", "L", "XL", "XXL"),
             ("Black", "Navy", "Olive", "Tan", "Red", "Grey", "Blue"),
             ("Puffer Jacket", "Rain Jacket", "Parka", "Denim Jacket", "Quilted Jacket", "Fleece Jacket",
              "Down Jacket", "Shell Jacket"),
             ("Glacier", "Storm", "Coastline", "Alpine", "Ridge", "Nordic"),
             "An insulated jacket built for winter: windproof, water-resistant and warm without the bulk.",
             ("Recycled synthetic insulation", "Water-resistant DWR finish", "Two zip hand pockets",
              "Adjustable hood and hem"), ("outerwear", "winter", "warm", "waterproof", "outdoor"), "6201.40"),
    TypeSpec("Jeans", "JNS", "jeans", f"{APPAREL} > Pants > Jeans", "Northwind Denim",
             (49, 119), 720, "Waist", ("28", "30", "32", "34", "36", "38"),
             ("Blue", "Black", "Grey", "White"),
             ("Slim Jeans", "Straight Jeans", "Relaxed Jeans", "Tapered Jeans", "Bootcut Jeans", "Selvedge Jeans"),
             ("Indigo", "Rinse", "Stonewash", "Raw", "Vintage", "Stretch"),
             "Our classic five-pocket jeans in a durable denim with just enough stretch for all-day comfort.",
             ("12 oz cotton denim with 2% elastane", "Button fly", "Copper rivets", "Made to fade naturally"),
             ("denim", "casual", "everyday"), "6203.42"),
    TypeSpec("Dresses", "DRS", "dress", f"{APPAREL} > Dresses", "Northwind Studio",
             (45, 139), 340, "Size", ("XS", "S", "M", "L", "XL"),
             ("Black", "Navy", "Red", "Green", "Pink", "Yellow", "Cream", "Burgundy"),
             ("Wrap Dress", "Midi Dress", "Shirt Dress", "Slip Dress", "Sweater Dress", "Maxi Dress"),
             ("Linen", "Jersey", "Satin", "Floral", "Knit", "Poplin"),
             "A flattering dress that moves with you, easy to dress up for dinner or down for the weekend.",
             ("Relaxed, flattering cut", "Side seam pockets", "Fully lined bodice", "Machine washable"),
             ("womens", "occasion", "summer", "party"), "6204.43"),
    TypeSpec("Sneakers", "SNK", "sneaker", "Apparel & Accessories > Shoes > Athletic Shoes", "Northwind Footwear",
             (59, 149), 850, "Size", ("6", "7", "8", "9", "10", "11", "12"),
             ("White", "Black", "Grey", "Navy", "Red", "Green"),
             ("Court Sneaker", "Runner", "Canvas Low", "High Top", "Trail Runner", "Slip-On"),
             ("Metro", "Pacer", "Breeze", "Sprint", "Harbor", "Everyday"),
             "A lightweight sneaker with a cushioned footbed and grippy rubber outsole for everyday miles.",
             ("Breathable upper", "Removable cushioned insole", "Vulcanised rubber outsole", "Padded collar"),
             ("shoes", "trainers", "casual", "running"), "6404.11"),
    TypeSpec("Boots", "BOT", "boot", "Apparel & Accessories > Shoes > Boots", "Northwind Footwear",
             (109, 249), 1450, "Size", ("6", "7", "8", "9", "10", "11", "12"),
             ("Brown", "Black", "Tan"),
             ("Chelsea Boot", "Hiking Boot", "Winter Boot", "Work Boot", "Lace-Up Boot"),
             ("Timberline", "Frost", "Cobble", "Highland", "Fjord"),
             "A rugged leather boot with a warm lining and a lugged sole for snow, slush and city streets.",
             ("Full-grain leather upper", "Warm shearling-feel lining", "Waterproof membrane",
              "Lugged rubber sole for grip on ice"), ("shoes", "winter", "warm", "leather", "waterproof"), "6403.91"),
    TypeSpec("Bags", "BAG", "bag", "Luggage & Bags", "Northwind Carry",
             (35, 159), 700, None, (),
             ("Black", "Navy", "Olive", "Tan", "Brown", "Grey"),
             ("Backpack", "Tote Bag", "Weekender", "Crossbody Bag", "Messenger Bag", "Sling Bag"),
             ("Canvas", "Leather", "Commuter", "Waxed", "Ripstop", "Market"),
             "A hard-wearing bag with smart organisation, built to carry your day from desk to weekend.",
             ("Water-resistant waxed canvas", "Padded 15-inch laptop sleeve", "Vegetable-tanned leather trim",
              "Lifetime hardware guarantee"), ("accessories", "travel", "commute"), "4202.92"),
    TypeSpec("Hats", "HAT", "hat", "Apparel & Accessories > Clothing Accessories > Hats", "Northwind Basics",
             (18, 45), 90, "Size", ("One Size",),
             ("Black", "Navy", "Grey", "Red", "Olive", "Cream", "Burgundy"),
             ("Beanie", "Baseball Cap", "Bucket Hat", "Trapper Hat", "Fisherman Beanie"),
             ("Wool", "Ribbed", "Cotton Twill", "Merino", "Chunky Knit"),
             "A go-to hat that keeps the sun off in summer or your ears warm in winter.",
             ("Soft merino wool blend", "Fold-over cuff", "One size fits most"),
             ("accessories", "winter", "warm"), "6505.00"),
    TypeSpec("Socks", "SCK", "socks", "Apparel & Accessories > Clothing > Underwear & Socks > Socks",
             "Northwind Basics", (8, 22), 60, "Size", ("S", "M", "L"),
             ("White", "Black", "Grey", "Navy", "Red", "Green"),
             ("Crew Socks", "Ankle Socks", "Hiking Socks", "Wool Socks", "Dress Socks"),
             ("Merino", "Cushioned", "Everyday", "Striped", "Thermal"),
             "Comfortable socks with a cushioned sole and a seamless toe, made to last.",
             ("Merino wool blend", "Cushioned footbed", "Seamless toe", "Arch support"),
             ("accessories", "basics", "warm"), "6115.94"),
    TypeSpec("Belts", "BLT", "belt", "Apparel & Accessories > Clothing Accessories > Belts", "Northwind Carry",
             (29, 69), 220, "Size", ("S", "M", "L", "XL"),
             ("Brown", "Black", "Tan"),
             ("Leather Belt", "Woven Belt", "Dress Belt", "Canvas Belt"),
             ("Heritage", "Classic", "Saddle", "Roller"),
             "A full-grain leather belt with solid brass hardware that only gets better with age.",
             ("Full-grain leather", "Solid brass buckle", "Fits jeans belt loops"),
             ("accessories", "leather"), "4203.30"),
    TypeSpec("Mugs", "MUG", "mug", "Home & Garden > Kitchen & Dining > Tableware > Drinkware > Mugs",
             "Northwind Home", (12, 28), 400, None, (),
             ("White", "Black", "Blue", "Green", "Cream"),
             ("Ceramic Mug", "Camp Mug", "Travel Mug", "Stoneware Mug"),
             ("Speckled", "Enamel", "Morning", "Harbor", "Glazed"),
             "A generous mug for your morning coffee or tea, glazed by hand so no two are alike.",
             ("12 oz capacity", "Dishwasher and microwave safe", "Hand-glazed stoneware"),
             ("home", "kitchen", "gift", "coffee"), "6912.00"),
    TypeSpec("Candles", "CND", "candle", "Home & Garden > Decor > Home Fragrances > Candles", "Northwind Home",
             (16, 42), 450, "Size", ("Small", "Large"),
             ("Cream", "Green", "Brown", "Blue"),
             ("Soy Candle", "Three-Wick Candle", "Tin Candle", "Pillar Candle"),
             ("Cedar & Smoke", "Sea Salt", "Fig Leaf", "Winter Pine", "Amber", "Lavender"),
             "A slow-burning soy wax candle with a cotton wick, poured in small batches.",
             ("100% soy wax", "Lead-free cotton wick", "Up to 50 hours burn time"),
             ("home", "gift", "cosy", "fragrance"), "3406.00"),
]


class _Variant(TypedDict):
    color: str
    size: str | None
    sku: str
    qty: int
    price: float
    policy: str
    barcode: str


class _Product(TypedDict):
    """A product's summary, for the orders and the inventory."""

    handle: str
    title: str
    type: TypeSpec
    price: float
    status: str
    published: bool
    variants: list[_Variant]
    option_names: list[str]


def _slug(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def _body_html(spec: TypeSpec, title: str, rng: random.Random) -> str:
    features = rng.sample(spec.features, k=min(3, len(spec.features)))
    items = "".join(f"<li>{f}</li>" for f in features)
    care = rng.choice(["Machine wash cold, tumble dry low.", "Wipe clean with a damp cloth.",
                       "Hand wash or spot clean only.", "Machine wash cold with like colours."])
    return (f"<p>The <strong>{title}</strong>: {spec.blurb}</p>"
            f"<ul>{items}</ul><p><em>Care:</em> {care}</p>")


def _money(value: float) -> str:
    return f"{value:.2f}"


def build_products(rng: random.Random) -> tuple[list[dict[str, str]], list[_Product]]:
    """Return (csv rows, product summaries used for orders and inventory)."""
    rows: list[dict[str, str]] = []
    products: list[_Product] = []
    seen: set[str] = set()
    barcode = 810000000000
    serial = 0
    for spec in TYPES:
        combos = [(m, n) for m in spec.materials for n in spec.nouns]
        rng.shuffle(combos)
        for material, noun in combos[:12]:
            title = f"{material} {noun}"
            handle = _slug(title)
            if handle in seen:
                continue
            seen.add(handle)
            serial += 1
            ncolors = rng.randint(2, min(4, len(spec.colors)))
            colors = rng.sample(spec.colors, k=ncolors)
            if spec.name == "Hoodies" and serial % 3 == 0 and "Red" not in colors:
                colors[0] = "Red"
            if spec.sizes and len(spec.sizes) > 4:
                start = rng.randint(0, 1)
                sizes = list(spec.sizes[start:start + rng.randint(4, len(spec.sizes) - start)])
            else:
                sizes = list(spec.sizes)
            lo, hi = spec.price
            price = rng.randint(lo, hi) - 0.01 if rng.random() < 0.7 else rng.randint(lo, hi) + 0.0
            compare_at = round(price * rng.choice([1.2, 1.25, 1.3, 1.5]), 0) - 0.01 if rng.random() < 0.25 else None
            status = "active"
            roll = rng.random()
            if roll < 0.05:
                status = "draft"
            elif roll < 0.09:
                status = "archived"
            published = status == "active" and rng.random() > 0.04
            tags = list(rng.sample(spec.tags, k=min(3, len(spec.tags))))
            if rng.random() < 0.12:
                tags.append("final-sale")
            if rng.random() < 0.15:
                tags.append("new-arrival")
            body = _body_html(spec, title, rng)
            code = f"NW-{spec.code}-{serial:03d}"
            n_images = rng.randint(1, 3)
            images = [f"{CDN}/{handle}-{i + 1}.jpg?v=17{serial:04d}{i}" for i in range(n_images)]
            variants: list[_Variant] = []
            size_options: list[str | None] = [*sizes] or [None]
            for color in colors:
                for size in size_options:
                    qty = rng.choice([0] * 2 + list(range(1, 40)))
                    policy = "continue" if qty == 0 and rng.random() < 0.3 else "deny"
                    sku = f"{code}-{COLOR_CODES[color]}" + (f"-{size.replace(' ', '').upper()}" if size else "")
                    barcode += rng.randint(1, 97)
                    variant_price = price + (5 if size in ("XXL", "Large") else 0)
                    variants.append({"color": color, "size": size, "sku": sku, "qty": qty, "price": variant_price,
                                     "policy": policy, "barcode": str(barcode)})
            option_names = ["Color"] + ([spec.size_name] if spec.size_name else [])
            if spec.name == "Candles":
                option_names = ["Color", "Size"]
            for i, v in enumerate(variants):
                first = i == 0
                row = dict.fromkeys(PRODUCT_COLUMNS, "")
                row.update({
                    "Handle": handle,
                    "Option1 Value": v["color"],
                    "Option2 Value": v["size"] or "",
                    "Variant SKU": v["sku"],
                    "Variant Grams": str(spec.grams),
                    "Variant Inventory Tracker": "shopify",
                    "Variant Inventory Qty": str(v["qty"]),
                    "Variant Inventory Policy": v["policy"],
                    "Variant Fulfillment Service": "manual",
                    "Variant Price": _money(v["price"]),
                    "Variant Compare At Price": _money(compare_at) if compare_at else "",
                    "Variant Requires Shipping": "TRUE",
                    "Variant Taxable": "TRUE",
                    "Variant Barcode": v["barcode"],
                    "Variant Image": images[min(colors.index(v["color"]), n_images - 1)] if not first else "",
                    "Variant Weight Unit": "kg" if spec.grams >= 1000 else "g",
                    "Cost per item": _money(price * 0.42),
                })
                if first:
                    row.update({
                        "Title": title, "Body (HTML)": body, "Vendor": spec.vendor,
                        "Product Category": spec.category, "Type": spec.name, "Tags": ", ".join(tags),
                        "Published": "TRUE" if published else "FALSE",
                        "Option1 Name": option_names[0],
                        "Option2 Name": option_names[1] if len(option_names) > 1 else "",
                        "Image Src": images[0], "Image Position": "1",
                        "Image Alt Text": f"{title} in {colors[0].lower()}",
                        "Gift Card": "FALSE", "SEO Title": f"{title} | Northwind Outfitters",
                        "SEO Description": spec.blurb, "Status": status,
                    })
                rows.append(row)
            for pos, src in enumerate(images[1:], start=2):
                row = dict.fromkeys(PRODUCT_COLUMNS, "")
                row.update({"Handle": handle, "Image Src": src, "Image Position": str(pos),
                            "Image Alt Text": f"{title} detail {pos}"})
                rows.append(row)
            products.append({"handle": handle, "title": title, "type": spec, "price": price,
                             "status": status, "published": published, "variants": variants,
                             "option_names": option_names})
    # A gift card: Shopify's own "Title / Default Title"-less denomination layout.
    gift_variants = []
    for i, amount in enumerate((25, 50, 100)):
        row = dict.fromkeys(PRODUCT_COLUMNS, "")
        row.update({"Handle": "northwind-gift-card", "Option1 Value": f"${amount}",
                    "Variant SKU": f"NW-GFT-{amount}", "Variant Grams": "0",
                    "Variant Inventory Policy": "deny", "Variant Fulfillment Service": "manual",
                    "Variant Price": _money(amount), "Variant Requires Shipping": "FALSE",
                    "Variant Taxable": "FALSE", "Variant Weight Unit": "g"})
        if i == 0:
            row.update({"Title": "Northwind Gift Card", "Vendor": "Northwind Outfitters",
                        "Body (HTML)": "<p>Give the gift of choice. Delivered by email instantly, "
                                       "redeemable online and in every Northwind store. Never expires.</p>",
                        "Product Category": "Arts & Entertainment > Party & Celebration > Gift Giving > Gift Cards",
                        "Type": "Gift Cards", "Tags": "gift, digital", "Published": "TRUE",
                        "Option1 Name": "Denominations", "Image Src": f"{CDN}/gift-card.jpg?v=1700000001",
                        "Image Position": "1", "Image Alt Text": "Northwind gift card", "Gift Card": "TRUE",
                        "SEO Title": "Gift Card | Northwind Outfitters", "Status": "active"})
        rows.append(row)
        gift_variants.append(amount)
    return rows, products


def write_csv(path: Path, columns: list[str], rows: list[dict[str, str]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


def build_inventory(products: list[_Product], rng: random.Random) -> list[dict[str, str]]:
    rows = []
    for p in products:
        spec = p["type"]
        names = p["option_names"]
        for v in p["variants"]:
            qty = int(v["qty"])
            cuts = sorted(rng.randint(0, qty) for _ in range(2))
            split = [cuts[0], cuts[1] - cuts[0], qty - cuts[1]]
            for location, available in zip(LOCATIONS, split):
                committed = rng.choice([0, 0, 0, 1]) if available else 0
                unavailable = rng.choice([0] * 8 + [1])
                incoming = rng.choice([0] * 6 + [6, 12]) if available < 3 else 0
                rows.append({
                    "Handle": p["handle"], "Title": p["title"],
                    "Option1 Name": names[0], "Option1 Value": v["color"],
                    "Option2 Name": names[1] if len(names) > 1 else "",
                    "Option2 Value": v["size"] or "",
                    "Option3 Name": "", "Option3 Value": "",
                    "SKU": v["sku"], "HS Code": spec.hs_code, "COO": rng.choice(["PT", "VN", "US", "IN", "TR"]),
                    "Location": location, "Incoming": str(incoming), "Unavailable": str(unavailable),
                    "Committed": str(committed), "Available": str(available),
                    "On hand": str(available + committed + unavailable),
                })
    return rows


FIRST = ["Ava", "Liam", "Mia", "Noah", "Zoe", "Ethan", "Lily", "Lucas", "Chloe", "Mason", "Wei", "Mei",
         "Priya", "Omar", "Sofia", "Jonas", "Hana", "Mateo", "Aisha", "Felix", "Nora", "Kenji", "Isla", "Leo"]
LAST = ["Patel", "Nguyen", "Smith", "Garcia", "Chen", "Müller", "Okafor", "Rossi", "Kim", "Johansson",
        "Zhang", "Silva", "Brown", "Tanaka", "Dubois", "Cohen", "Lopez", "Wright"]
CITIES = ["Seattle", "Portland", "Tacoma", "Bellevue", "Spokane", "Vancouver", "San Francisco", "Boise"]
CARRIERS = {"UPS": "1Z{:06d}A{:08d}", "USPS": "9400{:06d}{:012d}", "FedEx": "7{:05d}{:06d}"}
DEMO_TODAY = datetime(2026, 11, 28, 12, 0)


def build_orders(products: list[_Product], rng: random.Random) -> list[dict[str, object]]:
    offered = [p for p in products if p["status"] == "active" and p["published"]]
    # Fixed spread of ages (days before the demo "today") and statuses, so the
    # demo covers every branch: inside / outside the 30-day return window etc.
    plan = [
        ("delivered", 3), ("delivered", 9), ("delivered", 16), ("delivered", 24), ("delivered", 29),
        ("delivered", 33), ("delivered", 45), ("delivered", 62), ("delivered", 120), ("shipped", 2),
        ("shipped", 4), ("fulfilled", 1), ("paid", 1), ("paid", 0), ("pending", 0), ("cancelled", 12),
        ("refunded", 40), ("delivered", 12), ("shipped", 5), ("delivered", 7), ("paid", 2),
        ("delivered", 90), ("refunded", 20), ("delivered", 27),
    ]
    orders = []
    for i, (status, age) in enumerate(plan):
        number = 1001 + i
        first, last = FIRST[i % len(FIRST)], rng.choice(LAST)
        created = DEMO_TODAY - timedelta(days=age + (4 if status in ("delivered", "refunded") else 0),
                                         hours=rng.randint(0, 10), minutes=rng.randint(0, 59))
        items = []
        for p in rng.sample(offered, k=rng.randint(1, 3)):
            v = rng.choice(p["variants"])
            variant_title = " / ".join(x for x in (v["color"], v["size"]) if x)
            items.append({"handle": p["handle"], "sku": v["sku"], "title": p["title"],
                          "variant_title": variant_title, "quantity": rng.choice([1, 1, 1, 2]),
                          "price": f"{v['price']:.2f}"})
        order: dict[str, object] = {
            "number": f"#{number}",
            "customer": {"name": f"{first} {last}",
                         "email": f"{first.lower()}.{_slug(last).replace('-', '')}@example.com",
                         "phone": f"+1206555{number:04d}"},
            "created_at": created.strftime("%Y-%m-%dT%H:%M:%S-08:00"),
            "status": status,
            "currency": "USD",
            "line_items": items,
        }
        click_collect = i % 6 == 5
        if click_collect:
            order["pickup_store"] = rng.choice(["harbourfront", "midtown", "riverside"])
        else:
            order["shipping_city"] = rng.choice(CITIES)
        if status in ("fulfilled", "shipped", "delivered", "refunded") and not click_collect:
            carrier = rng.choice(sorted(CARRIERS))
            order["carrier"] = carrier
            order["tracking_number"] = CARRIERS[carrier].format(rng.randint(0, 999999), rng.randint(0, 10**8 - 1))
        if status in ("fulfilled", "shipped", "delivered", "refunded"):
            order["fulfilled_at"] = (created + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S-08:00")
        if status in ("delivered", "refunded"):
            order["delivered_at"] = (created + timedelta(days=4)).strftime("%Y-%m-%dT%H:%M:%S-08:00")
        if status == "cancelled":
            order["cancelled_at"] = (created + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S-08:00")
        orders.append(order)
    return orders


def main() -> None:
    rng = random.Random(SEED)
    rows, products = build_products(rng)
    write_csv(HERE / "products.csv", PRODUCT_COLUMNS, rows)
    STAFF_DATA.mkdir(parents=True, exist_ok=True)
    write_csv(STAFF_DATA / "inventory.csv", INVENTORY_COLUMNS, build_inventory(products, rng))
    header = (
        "# Demo orders for Northwind Outfitters (generated by generate_demo.py; seeded).\n"
        "# Dates are fixed in 2026. `demo_today` is the date the demo treats as today so that\n"
        "# return-window answers stay stable; override with SHOPKEEP_DEMO_TODAY (or pass\n"
        "# `today=` to the code) when you want the real clock.\n"
    )
    doc = {"demo_today": DEMO_TODAY.date().isoformat(), "orders": build_orders(products, rng)}
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120)
    (HERE / "orders.yaml").write_text(header + text, encoding="utf-8")


if __name__ == "__main__":
    main()
