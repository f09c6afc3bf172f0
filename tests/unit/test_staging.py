"""``staging._map_safely``: what the channel sent wrong is quarantined, a bug in our mapper is not."""

from __future__ import annotations

import pytest

from orderbridge import staging
from orderbridge.errors import InvalidPayload


class Mapper:
    channel = "unit"

    def __init__(self, error: Exception) -> None:
        self.error = error

    def to_order(self, rows):
        raise self.error

    def acknowledgements(self, order, status):
        return []


def test_a_payload_the_mapper_refuses_is_quarantined_naming_the_field():
    order = staging._map_safely(Mapper(InvalidPayload("line_items is missing or empty")), "ext-1",
                                [(3, {}), (7, {})])
    assert (order.external_order_id, order.raw_id, order.lines) == ("ext-1", 7, [])
    assert order.invalid_reason == "line_items is missing or empty"


@pytest.mark.parametrize("bug", [KeyError("sku"), TypeError("'int' object is not iterable"),
                                 AttributeError("'NoneType' object has no attribute 'get'"), ValueError("bad")])
def test_a_bug_in_our_mapper_fails_the_task_instead_of_quarantining_orders(bug):
    with pytest.raises(type(bug)):
        staging._map_safely(Mapper(bug), "ext-1", [(1, {})])
