"""Merkana's inbound endpoints under abuse, over real HTTP into a real PostgreSQL.

Missing and wrong secrets, huge bodies, wrong types anywhere in an order, deep nesting, duplicate
and concurrent deliveries: each answered with the right status (never a 500), and nothing stored
except what is valid.
"""

from __future__ import annotations

import copy
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from merkana_support import OUR_TOKEN, collection_bodies, inbound_fixture  # noqa: F401 (fixture `inbound`)

ORDER = collection_bodies()["order_create"]
T = 15


def post(url: str, path: str, body, token: str | None = OUR_TOKEN) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    headers = {"content-type": "application/json", **({"api-token": token} if token is not None else {})}
    return requests.post(f"{url}/{path}", data=data, headers=headers, timeout=T)


def stored(conn) -> tuple[int, int]:
    with conn.cursor() as cur:
        cur.execute("SELECT (SELECT count(*) FROM raw.orders WHERE channel = 'merkana'),"
                    " (SELECT count(*) FROM staging.orders WHERE channel = 'merkana')")
        result = cur.fetchone()
    conn.rollback()
    return result


@pytest.fixture
def url(inbound, conn):
    with conn.cursor() as cur:
        cur.execute("INSERT INTO staging.products (sku, name) VALUES ('7563', 'a'), ('9047', 'b')")
    conn.commit()
    return inbound(max_body_bytes=65536)


@pytest.mark.parametrize("token", [None, "", "wrong", OUR_TOKEN + "x", OUR_TOKEN.upper()])
def test_missing_or_wrong_token_is_401_and_stores_nothing(url, conn, token):
    answer = post(url, "save_order", ORDER, token=token)
    assert answer.status_code == 401 and answer.json()["status"] is False
    assert OUR_TOKEN not in answer.text
    assert stored(conn) == (0, 0)


def test_a_huge_body_is_413_and_stores_nothing(url, conn):
    huge = {**ORDER, "note": "x" * 200_000}
    assert post(url, "save_order", huge).status_code == 413
    assert stored(conn) == (0, 0)


def test_deep_nesting_is_refused_not_a_500(url, conn):
    deep = b"[" * 15_000 + b"]" * 15_000  # 30 kB: under the body limit
    answer = post(url, "save_order", deep)
    assert answer.status_code in (400, 413, 422), answer.status_code
    assert stored(conn) == (0, 0)


def test_nesting_inside_a_field_is_refused_with_a_422(url, conn):
    nested: object = "x"
    for _ in range(200):
        nested = {"a": nested}
    answer = post(url, "save_order", {**ORDER, "id": nested})
    assert answer.status_code == 422 and answer.json()["status"] is False
    assert stored(conn) == (0, 0)


def test_duplicate_and_concurrent_deliveries_store_the_order_once(url, conn):
    assert post(url, "save_order", ORDER).json() == {"status": True}
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: post(url, "save_order", ORDER), range(8)))
    assert {a.status_code for a in answers} == {200}
    assert all(a.json()["status"] is True for a in answers)
    assert stored(conn) == (1, 1)


JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**64, 2**64) | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=6)


def _paths(value, prefix=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield (*prefix, i)
            yield from _paths(item, (*prefix, i))


PATHS = list(_paths(ORDER))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(PATHS), value=JSON)
def test_wrong_types_anywhere_are_answered_and_only_valid_orders_are_stored(url, conn, path, value):
    body = copy.deepcopy(ORDER)
    parent = body
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    before = stored(conn)
    answer = post(url, "save_order", body)
    assert answer.status_code in (200, 400, 404, 413, 422), (path, answer.status_code, answer.text[:200])
    assert isinstance(answer.json().get("status"), bool)
    if answer.status_code != 200 or answer.json()["status"] is not True:
        assert stored(conn) == before, (path, answer.text[:200])
