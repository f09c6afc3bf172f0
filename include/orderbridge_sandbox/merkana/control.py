"""The fake Merkana platform's control API, ``/_sandbox/merkana``, and the replay of the platform's
calls on our endpoints (product sync, initial stock, order creates with retries, cancels).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from orderbridge_sandbox.merkana.routes import _int
from orderbridge_sandbox.merkana.state import TIMEOUT, MerkanaPlatform, MerkanaSandbox, product_sync_body


def _post(target: str, path: str, token: str, body: dict, session=requests) -> tuple[int, dict | str]:
    try:
        response = session.post(f"{target.rstrip('/')}/{path}", json=body, headers={"api-token": token},
                                timeout=TIMEOUT)
    except requests.RequestException as err:
        return 0, f"no answer: {type(err).__name__}"
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text[:200]


def _send_orders(target: str, token: str, bodies: list[dict], connections: int) -> list[tuple[int, dict | str, float]]:
    """Each body's ``(http, answer, seconds)``, in ``bodies``' order. One sender: a new connection per
    call, as before. More: that many platform connections at once, each kept alive, taking the next
    body as soon as its previous call was answered."""
    if connections <= 1:
        return [(*_post(target, "save_order", token, b), 0.0) for b in bodies]
    local = threading.local()

    def send(body: dict) -> tuple[int, dict | str, float]:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        t0 = time.perf_counter()
        code, answer = _post(target, "save_order", token, body, local.session)
        return code, answer, time.perf_counter() - t0

    with ThreadPoolExecutor(connections, thread_name_prefix="merkana-sender") as pool:
        return list(pool.map(send, bodies))


def replay(sandbox: MerkanaSandbox, platform: MerkanaPlatform, spec: dict) -> dict:
    """Send the collection's calls to ``spec["target"]`` (our ``/merkana/<platform>`` URL).

    Spec keys: ``target``; ``mid`` (default 293); ``steps`` (default all of ``products``,
    ``stock``, ``orders``, ``cancels``); ``orders`` (how many new ones, default 10);
    ``duplicates`` (how many of them are sent a second time, default 2); ``cancels`` (how many of
    them to cancel, default 1) or ``cancel_ids`` (these ids); ``unknown_rate`` (default 0.1);
    ``from_start`` (generate the merchant's orders from the start of its stream again, default no);
    ``connections`` (how many platform connections send the orders at once, default 1: then the
    answer also gives ``send_s``, the sending alone, and each order's ``seconds``; a retry is sent
    right after its first send, so the two race on two connections).
    """
    target, mid = spec["target"], int(spec.get("mid", 293))
    steps = spec.get("steps") or ["products", "stock", "orders", "cancels"]
    token = platform.spec.our_token
    result: dict = {"mid": mid}
    if "products" in steps:
        result["products"] = _post(target, "sync_products", token, product_sync_body(mid))
    if "stock" in steps:
        code, answer = _post(target, "stock", token, {"mid": mid})
        result["stock"] = (code, answer)
        if code == 200 and isinstance(answer, dict) and answer.get("status") is True:
            with sandbox.lock:
                platform.stock[mid] = {s["sku"]: int(s["br"]) for s in answer.get("stock", [])}
    new_ids: list[str] = []
    if "orders" in steps:
        with sandbox.lock:
            if spec.get("from_start"):  # the same orders as the first replay: a rerun re-sends, stores nothing new
                platform.factories.pop(mid, None)
            factory = platform.factory(mid)
            bodies = [factory.order(float(spec.get("unknown_rate", 0.1))) for _ in range(int(spec.get("orders", 10)))]
            again = factory.rng.sample(bodies, min(int(spec.get("duplicates", 2)), len(bodies)))
            sent = platform.sent_orders.setdefault(mid, {})
        connections = int(spec.get("connections", 1))
        if connections <= 1:
            sends = [*bodies, *again]  # a retry sends the very same body again
        else:  # each retry next to its first send: on concurrent connections they arrive together
            twice = {id(b) for b in again}
            sends = [s for b in bodies for s in ((b, b) if id(b) in twice else (b,))]
        t0 = time.perf_counter()
        answers = _send_orders(target, token, sends, connections)
        if connections > 1:
            result["send_s"] = time.perf_counter() - t0
        result["orders"] = []
        for body, (code, answer, seconds) in zip(sends, answers, strict=True):
            with sandbox.lock:
                record = sent.setdefault(str(body["id"]), {"sends": 0, "answers": []})
                record["sends"] += 1
                record["answers"].append(answer.get("status") if isinstance(answer, dict) else None)
            result["orders"].append({"id": body["id"], "http": code, "answer": answer,
                                     **({"seconds": seconds} if connections > 1 else {})})
            new_ids.append(str(body["id"]))
    if "cancels" in steps:
        ids = [str(i) for i in spec.get("cancel_ids") or []]
        if not ids and new_ids:
            ids = list(dict.fromkeys(new_ids))[: int(spec.get("cancels", 1))]
        result["cancels"] = []
        for order_id in ids:
            code, answer = _post(target, "cancel_order", token, {"mid": mid, "id": _int(order_id) or order_id})
            with sandbox.lock:
                platform.cancels.setdefault(mid, {})[order_id] = answer
            result["cancels"].append({"id": order_id, "http": code, "answer": answer})
    return result


def control_router(sandbox: MerkanaSandbox) -> APIRouter:
    """``/_sandbox/merkana``: platforms, per-platform state, and the replay of the platform's calls."""
    router = APIRouter(prefix="/_sandbox/merkana")

    @router.get("")
    async def overview() -> JSONResponse:
        return JSONResponse({"platforms": sorted(sandbox.platforms), "stock_mode": sandbox.stock_mode})

    @router.get("/{platform}/state")
    async def state(platform: str) -> JSONResponse:
        if platform not in sandbox.platforms:
            return JSONResponse({"ok": False, "error": f"no Merkana platform {platform}"}, status_code=404)
        with sandbox.lock:
            return JSONResponse(sandbox.platforms[platform].state())

    @router.post("/{platform}/replay")
    def replay_calls(platform: str, spec: dict) -> JSONResponse:  # sync: runs in the threadpool
        if platform not in sandbox.platforms:
            return JSONResponse({"ok": False, "error": f"no Merkana platform {platform}"}, status_code=404)
        if not isinstance(spec.get("target"), str):
            return JSONResponse({"ok": False, "error": 'body must be {"target": "<our /merkana/<platform> URL>", ...}'},
                                status_code=400)
        return JSONResponse({"ok": True, **replay(sandbox, sandbox.platforms[platform], spec)})

    return router
