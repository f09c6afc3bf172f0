"""The catalogue both ways with pandas: the warehouse's product master and the shop, by SKU.

Both directions overwrite by SKU (seed 002: "cikkszám alapján ... felülírja"), each switched per
shop (``catalogue_upload``, ``catalogue_download``), and both skip ``excluded_groups``.

- ``diff(master, shop, excluded)`` compares two DataFrames (sku, name, price, group) and sorts
  every SKU into new, changed, unchanged or excluded, with the before and after of what changes.
- Upload (``upload``): the SKUs new or changed on our side become ``/batch`` chunks of
  ``batch_size`` sub-requests (``POST /productExtend`` for a new SKU, ``PUT /productExtend?sku=``
  for a changed one), planned in ``staging.catalogue_chunks`` before the first is sent. Each
  chunk is marked sent, with the shop's answer per item, in its own transaction after its batch
  answered. A run that finds a plan unfinished (a crash, a task killed, a 5xx that outlasted the
  retries) sends the chunks still pending and nothing else: a chunk that was answered is never
  sent again. Items the shop refused (4xx) stay refused and visible in ``results``.
- Download (``download``): shop products new or changed against the product master are written
  to ``staging.products`` (price from the chosen customer group) and ``channel_products``; the
  before and after of each overwrite is kept as a download chunk, already ``sent``.

The history of what a sync overwrote is ``staging.catalogue_chunks.items`` (``before``/``after``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import quote

import pandas as pd

from orderbridge.channels.shoprenter import batch as batches
from orderbridge.channels.shoprenter.mapping import CHANNEL, product_row
from orderbridge.errors import InvalidPayload
from orderbridge.steps import crash_point

log = logging.getLogger(__name__)

COLUMNS = ["sku", "name", "price", "group"]
COMPARED = ["name", "price", "group"]
# An upload sends name and price only (groups stay the shop's), so only those make a SKU changed:
# comparing the group too would resend a product whose groups differ on every sync.
UPLOADED = ["name", "price"]


def frame(rows: Iterable[dict]) -> pd.DataFrame:
    """Catalogue rows as a DataFrame indexed by SKU; prices as 4-decimal strings so equal is equal."""
    df = pd.DataFrame(list(rows), columns=COLUMNS).drop_duplicates("sku").set_index("sku")
    df["price"] = df["price"].map(lambda p: None if p is None or pd.isna(p) else f"{Decimal(str(p)):.4f}")
    return df.astype(object).where(df.notna(), None)


def diff(master: pd.DataFrame, shop: pd.DataFrame, excluded: Iterable[str],
         compared: list[str] = COMPARED) -> pd.DataFrame:
    """Every SKU of ``master`` sorted against ``shop``: ``change`` is new, changed, unchanged or excluded.

    Returns:
        One row per master SKU with ``change``, the master's values and ``before`` (the shop's
        values of a changed SKU, as a dict; None otherwise).
    """
    joined = master.join(shop[COMPARED], how="left", rsuffix="_shop")
    present = joined.index.isin(shop.index)
    same = pd.Series(True, index=joined.index)
    for col in compared:
        ours = joined[col]
        same &= ours.isna() | (ours.fillna("") == joined[f"{col}_shop"].fillna(""))
    change = pd.Series("changed", index=joined.index)
    change[~present] = "new"
    change[present & same] = "unchanged"
    change[joined["group"].isin(list(excluded))] = "excluded"
    out = master.copy()
    out["change"] = change
    out["before"] = pd.Series([({c: _plain(joined.at[sku, f"{c}_shop"]) for c in COMPARED} if ch == "changed"
                                else None) for sku, ch in change.items()], index=out.index, dtype=object)
    return out


def _plain(value):
    """A frame cell as JSON takes it: pandas' missing values (NaN, NA) become None."""
    return None if value is None or (not isinstance(value, dict | list) and pd.isna(value)) else value


def _after(row) -> dict:
    return {c: _plain(row[c]) for c in COMPARED}


def master_frame(cur, owner: str = "") -> pd.DataFrame:
    cur.execute("SELECT sku, name, price, product_group FROM staging.products WHERE owner = %s ORDER BY sku", (owner,))
    return frame({"sku": s, "name": n, "price": p, "group": g} for s, n, p, g in cur.fetchall())


def shop_frame(pages: Iterable[list[dict]], settings, prices: dict[str, Decimal] | None = None,
               groups: dict[str, str] | None = None) -> pd.DataFrame:
    """The shop's products as a frame; a product that cannot be read is skipped, logged by name."""
    rows = []
    for page in pages:
        for item in page:
            try:
                row = product_row(item, settings, groups)
            except InvalidPayload as err:
                log.warning("shoprenter %s: a product skipped: %s", settings.shop, err)
                continue
            if prices is not None and row["inner_id"] in prices:
                row["price"] = prices[row["inner_id"]]
            rows.append(row)
    return frame(rows)


def _ids(pages: Iterable[list[dict]]) -> dict[str, str]:
    """SKU -> the shop's product innerId, what ``channel_products.external_product_id`` keeps."""
    return {str(i["sku"]): str(i["innerId"]) for page in pages for i in page
            if isinstance(i, dict) and i.get("sku") and i.get("innerId")}


def list_products(cur, account: str, rows: list[tuple[str, str | None]], ids: dict[str, str]) -> None:
    """The shop's products as its listings (``channel_products``), so stock is offered to them."""
    for sku, name in rows:
        cur.execute("""INSERT INTO staging.channel_products AS cp (channel, account, channel_sku, external_product_id,
                       name) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (channel, account, channel_sku) DO UPDATE SET
                       external_product_id = coalesce(EXCLUDED.external_product_id, cp.external_product_id),
                       name = coalesce(EXCLUDED.name, cp.name)""", (CHANNEL, account, sku, ids.get(sku), name))


def _request(sku: str, row: dict, change: str) -> dict:
    # A field the product master leaves empty is not sent (the shop keeps its own), nor compared.
    price, name = _plain(row["price"]), _plain(row.get("name"))
    data = {"sku": sku, **({"price": price} if price is not None else {})}
    if name:
        data["productDescriptions"] = [{"name": name}]  # [G] the name lives in the descriptions
    if change == "new":
        return {"method": "POST", "uri": "productExtend", "data": {**data, "status": 1}}
    return {"method": "PUT", "uri": f"productExtend?sku={quote(sku, safe='')}", "data": data}


# -- upload -----------------------------------------------------------------------------------
def open_sync(cur, account: str, direction: str = "upload") -> str | None:
    """The sync id of an unfinished plan (a chunk still pending), or None."""
    cur.execute("SELECT sync_id FROM staging.catalogue_chunks WHERE channel = %s AND account = %s AND direction = %s"
                " AND state = 'pending' ORDER BY id LIMIT 1", (CHANNEL, account, direction))
    row = cur.fetchone()
    return row[0] if row else None


def plan(cur, account: str, changes: pd.DataFrame, size: int, sync_id: str) -> int:
    """Store the upload plan: new and changed SKUs in chunks of ``size``; returns the chunk count."""
    todo = changes[changes["change"].isin(["new", "changed"])]
    chunks = 0
    for start in range(0, len(todo), size):
        part = todo.iloc[start:start + size]
        items = [{"sku": sku, "change": r["change"], "before": _plain(r["before"]),
                  "after": _after(r), "request": _request(sku, r, r["change"])}
                 for sku, r in part.iterrows()]
        cur.execute("INSERT INTO staging.catalogue_chunks (channel, account, direction, sync_id, chunk, items)"
                    " VALUES (%s, %s, 'upload', %s, %s, %s)", (CHANNEL, account, sync_id, chunks, json.dumps(items)))
        chunks += 1
    return chunks


def send_pending(conn, account: str, sync_id: str, send: Callable[[list[dict]], list[dict]]) -> dict:
    """Send the plan's pending chunks in order, each marked in its own transaction once answered."""
    counts = dict.fromkeys(("chunks", "done", "refused", "failed"), 0)
    while True:
        with conn.cursor() as cur:
            cur.execute("SELECT id, items FROM staging.catalogue_chunks WHERE channel = %s AND account = %s AND"
                        " direction = 'upload' AND sync_id = %s AND state = 'pending' ORDER BY chunk LIMIT 1"
                        " FOR UPDATE SKIP LOCKED", (CHANNEL, account, sync_id))
            row = cur.fetchone()
            if row is None:
                conn.commit()
                return counts
            chunk_id, items = row
            outcome = batches.send(send, [i["request"] for i in items])
            results = {items[i]["sku"]: "done" for i in outcome.done}
            results |= {items[i]["sku"]: why for i, why in outcome.refused.items()}
            results |= {items[i]["sku"]: "failed: sent again by the next sync" for i in outcome.retry}
            state = "sent" if not outcome.refused and not outcome.retry else "partial"
            cur.execute("UPDATE staging.catalogue_chunks SET state = %s, results = %s, sent_at = %s WHERE id = %s",
                        (state, json.dumps(results), datetime.now(UTC), chunk_id))
        conn.commit()
        crash_point("catalogue.chunk")  # chaos tests kill a worker here: the chunk is answered and recorded
        counts["chunks"] += 1
        counts["done"] += len(outcome.done)
        counts["refused"] += len(outcome.refused)
        counts["failed"] += len(outcome.retry)
        if outcome.refused:
            log.warning("shoprenter %s upload: the shop refused %s", account,
                        "; ".join(f"{items[i]['sku']}: {why}" for i, why in list(outcome.refused.items())[:5]))


def upload(conn, client, account: str, run_id: str) -> dict:
    """One upload run: finish an unfinished plan, else plan the current diff and send it."""
    settings = client.settings
    with conn.cursor() as cur:
        sync_id = open_sync(cur, account)
        planned = None
        if sync_id is None:
            from orderbridge.stock import owner_of

            master = master_frame(cur, owner_of(cur, CHANNEL, account))
            pages = list(client.iter_products())
            shop = shop_frame(pages, settings)
            changes = diff(master, shop, settings.excluded_groups, UPLOADED)
            # Every shop product but our excluded ones is a listing stock is offered to (an alias maps it).
            hidden = set(changes.index[changes["change"] == "excluded"])
            list_products(cur, account, [(sku, r["name"]) for sku, r in shop.iterrows() if sku not in hidden],
                          _ids(pages))
            sync_id = f"{run_id}:{datetime.now(UTC).isoformat(timespec='seconds')}"
            planned = changes["change"].value_counts().to_dict()
            plan(cur, account, changes, settings.batch_size, sync_id)
    conn.commit()
    counts = send_pending(conn, account, sync_id, client.batch)
    return {"sync_id": sync_id, "resumed": planned is None, **{f"planned_{k}": v for k, v in (planned or {}).items()},
            **counts}


# -- download ---------------------------------------------------------------------------------
def group_prices(client, customer_group: str) -> dict[str, Decimal]:
    """Product innerId -> net price of one customer group (``/customerGroupProductPrices``, A5)."""
    from orderbridge.channels.shoprenter.mapping import decode_id

    prices = {}
    for page in client.pages("customerGroupProductPrices"):
        for item in page:
            group, product = item.get("customerGroup") or {}, item.get("product") or {}
            try:
                gid = decode_id(group.get("id") or group.get("href") or "")[1]
                pid = decode_id(product.get("id") or product.get("href") or "")[1]
            except InvalidPayload:
                continue
            if gid == customer_group and item.get("price") not in (None, ""):
                prices[pid] = Decimal(str(item["price"]))
    return prices


def download(conn, client, account: str, run_id: str) -> dict:
    """Shop products new or changed against the product master, written to staging (one transaction).

    Also the shop's stock into ``stock_down_warehouse`` when set (``stock_field`` of each product);
    a SKU the product master lacks changes no stock and is named in the counts.
    """
    from orderbridge.stock import owner_of

    settings = client.settings
    prices = group_prices(client, settings.price_customer_group) if settings.price_customer_group else None
    stock_rows: list[dict] = []
    pages = [[dict(i) for i in page] for page in client.iter_products()]
    shop = shop_frame(_keep_stock(pages, settings, stock_rows), settings, prices, _groups(client))
    with conn.cursor() as cur:
        owner = owner_of(cur, CHANNEL, account)
        changes = diff(shop, master_frame(cur, owner), settings.excluded_groups)
        todo = changes[changes["change"].isin(["new", "changed"])]
        for sku, r in todo.iterrows():
            cur.execute("""INSERT INTO staging.products AS p (owner, sku, name, price, product_group)
                           VALUES (%s, %s, %s, %s, %s) ON CONFLICT (owner, sku) DO UPDATE SET name = EXCLUDED.name,
                           price = EXCLUDED.price, product_group = EXCLUDED.product_group""",
                        (owner, sku, r["name"] or sku, r["price"], r["group"]))
        kept = changes[changes["change"] != "excluded"]
        list_products(cur, account, [(sku, r["name"]) for sku, r in kept.iterrows()], _ids(pages))
        if len(todo):
            items = [{"sku": sku, "change": r["change"], "before": _plain(r["before"]), "after": _after(r)}
                     for sku, r in todo.iterrows()]
            cur.execute("""INSERT INTO staging.catalogue_chunks (channel, account, direction, sync_id, chunk, items,
                           state, sent_at) VALUES (%s, %s, 'download', %s, 0, %s, 'sent', now())""",
                        (CHANNEL, account, f"{run_id}:{datetime.now(UTC).isoformat()}", json.dumps(items)))
        stocked, unknown = _stock_down(cur, settings, owner, stock_rows)
    conn.commit()
    counts = changes["change"].value_counts().to_dict()
    return {**{f"downloaded_{k}": v for k, v in counts.items()}, "stock_written": stocked,
            "stock_unknown_skus": len(unknown), "stock_unknown_examples": sorted(unknown)[:5]}


def _groups(client) -> dict[str, str] | None:
    """Category names for a group read from ``productCategoryRelations`` (one more paged read)."""
    return client.category_names() if client.settings.group_field == "productCategoryRelations" else None


def _keep_stock(pages, settings, into: list[dict]):
    for page in pages:
        into += [{"sku": i.get("sku"), settings.stock_field: i.get(settings.stock_field)} for i in page]
        yield page


def _stock_down(cur, settings, owner: str, rows: list[dict]) -> tuple[int, set[str]]:
    """The shop's stock into ``stock_down_warehouse``; SKUs not in the product master are only named."""
    from orderbridge.channels.shoprenter.mapping import whole

    if not settings.stock_down_warehouse:
        return 0, set()
    cur.execute("SELECT sku FROM staging.products WHERE owner = %s", (owner,))
    known = {r[0] for r in cur.fetchall()}
    written, unknown = 0, set()
    for row in rows:
        sku = str(row.get("sku") or "")
        if not sku:
            continue
        if sku not in known:
            unknown.add(sku)
            continue
        qty = whole(row.get(settings.stock_field), f"product {sku}: {settings.stock_field}")
        cur.execute("""INSERT INTO staging.stock_levels AS s (owner, sku, warehouse, on_hand) VALUES (%s, %s, %s, %s)
                       ON CONFLICT (owner, sku, warehouse) DO UPDATE SET on_hand = EXCLUDED.on_hand, updated_at = now()
                       WHERE s.on_hand IS DISTINCT FROM EXCLUDED.on_hand""",
                    (owner, sku, settings.stock_down_warehouse, qty))
        written += cur.rowcount
    if unknown:
        log.warning("shoprenter %s: stock of %d SKU(s) the product master lacks was not written: %s", settings.shop,
                    len(unknown), ", ".join(sorted(unknown)[:5]))
    return written, unknown
