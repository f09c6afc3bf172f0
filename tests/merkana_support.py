"""Shared by the Merkana tests: the seed collection's request bodies and our endpoints on loopback.

``tests/data/merkana_collection.json`` is the Postman collection of seed 004, verbatim. Its bodies
carry ``//`` documentation comments (the platform itself sends plain JSON): ``strip_comments``
removes them outside strings only, so ``"https: //clients..."`` in a value stays.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import requests
import uvicorn
from fastapi import FastAPI

from conftest import rows as sql  # noqa: F401 (the Merkana tests call it sql)
from orderbridge_sandbox.process import free_port

COLLECTION = Path(__file__).resolve().parent / "data" / "merkana_collection.json"
PLATFORM, CONN_ID = "demo", "orderbridge_merkana_demo"
OUR_TOKEN, THEIR_TOKEN = "ff-secret-0123456789", "merkana-issued-token-abcdef"


def strip_comments(text: str) -> str:
    """JSON with ``//`` line comments -> plain JSON (string-aware: ``"https: //x"`` stays)."""
    out, i, in_string = [], 0, False
    while i < len(text):
        char = text[i]
        if in_string:
            out.append(char)
            if char == "\\":  # an escape: keep the next character whatever it is
                out.append(text[i + 1])
                i += 2
                continue
            in_string = char != '"'
        elif char == '"':
            in_string = True
            out.append(char)
        elif text.startswith("//", i):
            while i < len(text) and text[i] not in "\r\n":
                i += 1
            continue
        else:
            out.append(char)
        i += 1
    return "".join(out)


CALLS = ("product_sync", "stock", "order_create", "cancel", "status", "supplies")


def collection_texts() -> dict[str, str]:
    """The collection's request bodies, comments removed, exactly as text: by call (``CALLS``)."""
    items = json.loads(COLLECTION.read_text(encoding="utf-8"))["item"]
    return {name: strip_comments(item["request"]["body"]["raw"]) for name, item in zip(CALLS, items, strict=True)}


def collection_bodies() -> dict[str, dict]:
    """``collection_texts``, parsed."""
    return {name: json.loads(text) for name, text in collection_texts().items()}


def replayer(sandbox_url: str, target: str):
    """``replay(mid, **spec)``: has the fake platform at ``sandbox_url`` send its calls to ``target``
    (our platform's base URL); returns the replay's answer."""

    def replay(mid: int, **spec) -> dict:
        answer = requests.post(f"{sandbox_url}/_sandbox/merkana/{PLATFORM}/replay", timeout=30,
                               json={"target": target, "mid": mid, **spec})
        answer.raise_for_status()
        return answer.json()

    return replay


def connection(sandbox_port: int = 9, **extra) -> str:
    """The platform's connection JSON (Merkana's API = the sandbox, when there is one)."""
    return json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": sandbox_port, "schema": "http",
                       "password": THEIR_TOKEN,
                       "extra": {"api_path": "/merkana/v1", "timeout": 5, "inbound_token": OUR_TOKEN, **extra}})


class LoopbackServer:
    """A FastAPI app served by uvicorn in a background thread on a free loopback port."""

    def __init__(self, app) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(name="inbound")
def inbound_fixture(staging_dsn, monkeypatch):
    """Our Merkana endpoints over real HTTP, on the test's staging database; yields a configurator.

    ``inbound(**extra)`` (re)sets the platform connection's extras and returns the platform's base
    URL (``http://127.0.0.1:PORT/merkana/demo``); a fresh app per test, so nothing is cached across.
    """
    from orderbridge.channels.merkana.inbound import Runtime, create_app

    root = FastAPI()
    runtime = Runtime(settings_ttl=0)
    root.mount("/merkana", create_app(runtime))
    with LoopbackServer(root) as server:
        def configure(sandbox_port: int = 9, **extra) -> str:
            monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection(sandbox_port, **extra))
            return f"{server.url}/merkana/{PLATFORM}"
        yield configure
