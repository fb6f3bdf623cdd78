"""The retail domain: catalogue loading, commerce entities, product search, inventory, shop data.

The dialogue engine in ``core/`` knows nothing about products; bots that sell
things import from here.
"""
