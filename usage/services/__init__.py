"""Writes of the usage app: prices, the rollups of the usage ledger, retention."""

from usage.services.prices import price_delete, price_parse, price_set, price_update
from usage.services.rebuild import usage_rollups_rebuild
from usage.services.retention import Pruned, usage_prune
from usage.services.rollups import usage_rollups_add

__all__ = [
    "Pruned",
    "price_delete",
    "price_parse",
    "price_set",
    "price_update",
    "usage_prune",
    "usage_rollups_add",
    "usage_rollups_rebuild",
]
