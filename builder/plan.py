"""Which references are used, in which order, and how many records each must give.

The order depends on the references' ids and `--random-seed` only, never on `--size`, so a larger
size extends a smaller one: every call the smaller build paid for is a cache hit in the larger.
"""

from __future__ import annotations

import random

INSTRUCTIONS_PER_FEATURE = 10
RECORDS_PER_REFERENCE = 2 * INSTRUCTIONS_PER_FEATURE


def reference_order(reference_ids: list[str], random_seed: int) -> list[int]:
    """Row indices in the order references are drawn."""
    order = sorted(range(len(reference_ids)), key=reference_ids.__getitem__)
    random.Random(random_seed).shuffle(order)
    return order


def quotas(wanted: int, available: int) -> list[int]:
    """Records to ask of each of the next references to get `wanted` more (each gives at most 20)."""
    full, rest = divmod(wanted, RECORDS_PER_REFERENCE)
    planned = [RECORDS_PER_REFERENCE] * full + ([rest] if rest else [])
    return planned[:available]


def split_quota(quota: int) -> dict[str, int]:
    """Instructions to use from each feature of a reference: subject first, then skill."""
    subject = min(INSTRUCTIONS_PER_FEATURE, (quota + 1) // 2)
    return {"subject": subject, "skill": quota - subject}
