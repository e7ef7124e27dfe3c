"""Report low stock from an embedded JSON inventory."""
import doctest
import json
import sys

INVENTORY = """
{"warehouse": "A1", "items": [
  {"sku": "BOLT-10", "qty": 340, "reorder_at": 100},
  {"sku": "NUT-10", "qty": 80, "reorder_at": 100},
  {"sku": "WASHER-8", "qty": 0, "reorder_at": 50},
  {"sku": "SCREW-4", "qty": 51, "reorder_at": 50}
]}
"""


def low_stock(items):
    """SKUs at or below their reorder point, emptiest first.

    >>> low_stock([{"sku": "a", "qty": 5, "reorder_at": 5},
    ...            {"sku": "b", "qty": 9, "reorder_at": 5},
    ...            {"sku": "c", "qty": 0, "reorder_at": 1}])
    ['c', 'a']
    """
    low = [i for i in items if i["qty"] <= i["reorder_at"]]
    return [i["sku"] for i in sorted(low, key=lambda i: i["qty"])]


def order_quantity(item, multiple=25):
    """Units to order to reach twice the reorder point, in whole packs.

    >>> order_quantity({"qty": 80, "reorder_at": 100})
    125
    >>> order_quantity({"qty": 300, "reorder_at": 100})
    0
    """
    need = max(0, 2 * item["reorder_at"] - item["qty"])
    return -(-need // multiple) * multiple


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    inv = json.loads(INVENTORY)
    by_sku = {i["sku"]: i for i in inv["items"]}
    order = {sku: order_quantity(by_sku[sku]) for sku in low_stock(inv["items"])}
    print(json.dumps({"warehouse": inv["warehouse"], "order": order}, sort_keys=True))
