"""plugins/merkana.py, loaded by Airflow's own plugin manager, mounts the Merkana app under /merkana."""

from __future__ import annotations

import pytest
import requests
from fastapi import FastAPI

from conftest import REPO
from merkana_support import CONN_ID, OUR_TOKEN, LoopbackServer, connection


@pytest.fixture
def airflow_plugins(monkeypatch):
    """Airflow's plugin manager reading this repository's plugins folder (its caches reset around)."""
    from airflow import plugins_manager, settings

    def reset() -> None:
        plugins_manager._get_plugins.cache_clear()
        plugins_manager.get_fastapi_plugins.cache_clear()

    monkeypatch.setattr(settings, "PLUGINS_FOLDER", str(REPO / "plugins"))
    reset()
    yield plugins_manager
    reset()


def test_airflow_loads_the_plugin_and_its_api_server_serves_the_app_under_merkana(airflow_plugins, monkeypatch):
    from airflow.api_fastapi.app import init_plugins

    plugins, errors = airflow_plugins._get_plugins()
    assert not errors
    apps, _ = airflow_plugins.get_fastapi_plugins()
    entry = next(a for a in apps if a["name"] == "Merkana fulfilment endpoints")
    assert entry["url_prefix"] == "/merkana"
    assert {r.path for r in entry["app"].routes} >= {"/{platform}/sync_products", "/{platform}/stock",
                                                     "/{platform}/save_order", "/{platform}/cancel_order"}

    root = FastAPI()
    init_plugins(root)  # what the API server does with every plugin's fastapi_apps
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection())
    with LoopbackServer(root) as server:
        # Health says only that the app answers: no process id or other internal detail.
        assert requests.get(f"{server.url}/merkana/health", timeout=10).json() == {"status": True}
        for path in ("/merkana/docs", "/merkana/redoc", "/merkana/openapi.json", "/merkana/docs/oauth2-redirect"):
            assert requests.get(f"{server.url}{path}", timeout=10).status_code == 404, path  # no public API docs
        answer = requests.post(f"{server.url}/merkana/demo/stock", json={"mid": 293}, timeout=10)
        # The app's own check (Airflow does not authenticate plugin routes).
        assert answer.status_code == 401 and answer.json() == {"status": False, "message": "missing api-token header"}
        answer = requests.post(f"{server.url}/merkana/demo/stock", data=b"{", headers={"api-token": OUR_TOKEN},
                               timeout=10)
        assert answer.status_code == 400  # past the token: the request reached our body checks
