"""The operator's FastAPI app: the page (``static/index.html``) and its JSON API under ``/api``.

Every route depends on the API server's auth manager (``auth.py``); there is no docs or OpenAPI
route to leave open.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from contextlib import closing
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from orderbridge.operator import routes_act, routes_read
from orderbridge.operator.actions import Refused
from orderbridge.operator.auth import reader

PAGE = Path(__file__).with_name("static") / "index.html"


def airflow_staging_connection():
    from orderbridge.steps import staging_connection

    return staging_connection()


def create_app(connect: Callable[[], Any] = airflow_staging_connection) -> FastAPI:
    """Cheap to call: nothing connects until a request comes (Airflow imports plugins everywhere)."""
    app = FastAPI(title="orderbridge operator", docs_url=None, redoc_url=None, openapi_url=None)

    def staging() -> Generator[Any]:
        with closing(connect()) as conn:
            yield conn

    app.dependency_overrides[routes_read.staging] = staging

    @app.exception_handler(Refused)
    async def refused(_request: Request, err: Refused) -> JSONResponse:
        return JSONResponse({"detail": err.message}, status_code=err.status_code)

    @app.get("/", response_class=HTMLResponse, dependencies=[Depends(reader)])
    def page() -> str:
        return PAGE.read_text(encoding="utf-8")

    app.include_router(routes_read.router, prefix="/api")
    app.include_router(routes_act.router, prefix="/api")
    return app
