"""Groupon Goods (CommerceInterface supplier API): client, pure mapper, write-back handlers.

API facts, with their evidence, are in the project README's Groupon section; the surprising ones:
``supplier_id`` and ``token`` travel as ordinary parameters (query string or form body), JSON
arrays travel as form-field *text*, a default ``get_orders`` returns only orders with unexported
lines (so we read every page before marking anything exported, or the pages would shift under
us), a date window (at most 24 h) returns exported orders too, and one ``orderid`` may come in
several ``data`` entries, even on different pages.

The connection: host/port/schema give the server, ``api_path`` (extra) the version prefix such as
``/api/v2``, login is the supplier id and password the token; its extras are ``GrouponSettings``
(the shared ones only).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

from orderbridge.channels.groupon.settings import GrouponSettings
from orderbridge.errors import AuthError, InvalidPayload
from orderbridge.http import ChannelClient
from orderbridge.window import Window

CHANNEL = "groupon"
MAX_WINDOW = timedelta(hours=24)  # longest start/end window get_orders accepts
REQUEST_DATE_FORMAT = "%m/%d/%Y %H:%M"  # 24-hour clock, UTC
ORDER_DATE_FORMAT = "%m/%d/%Y %I:%M%p UTC"  # what orders carry: 12-hour clock and a literal " UTC"
MARK_EXPORTED, TRACKING = "mark_exported", "tracking"


class GrouponClient(ChannelClient):
    """The wire only: ``get_orders`` pages, ``mark_exported`` and ``tracking_notification``."""

    channel = CHANNEL
    settings_class = GrouponSettings
    settings: GrouponSettings

    @property
    def _auth(self) -> dict[str, str]:
        return {"supplier_id": self.connection.login or "", "token": self.connection.password or ""}

    def _call(self, method: str, path: str, fields: dict) -> dict:
        params = {**self._auth, **fields}
        kwargs = {"params": params} if method == "GET" else {"data": params}
        body = self.request_json(method, path, **kwargs)
        if not isinstance(body, dict):
            raise self._error(InvalidPayload, f"{path}: expected a JSON object, got {type(body).__name__}")
        if body.get("success") is not True:
            reason = self.mask(str(body.get("reason") or "no reason given"))
            if any(word in reason.lower() for word in ("token", "supplier", "auth")):
                raise self._error(AuthError, f"{path}: Groupon refused the credentials ({reason}). Resolution: "
                                  f"generate a new token in CommerceInterface and update connection {self.conn_id}.")
            raise self._error(InvalidPayload, f"{path}: Groupon answered success=false ({reason})")
        return body

    def iter_orders(self, window: Window | None = None) -> Iterator[list[dict]]:
        """Yield ``get_orders`` pages one at a time.

        Without a window: the unexported queue, page 1 to ``meta.no_of_pages``. With a window: the
        window cut into slices of at most 24 h, each read with ``start_datetime``/``end_datetime``
        (which also returns orders already exported).
        """
        slices = window.slices(MAX_WINDOW) if window else [None]
        for piece in slices:
            fields = {}
            if piece:
                fields = {"start_datetime": piece.start.strftime(REQUEST_DATE_FORMAT),
                          "end_datetime": piece.end.strftime(REQUEST_DATE_FORMAT)}
            page = 1
            while True:
                body = self._call("GET", "get_orders", {**fields, "page": page})
                data = body.get("data") or []
                yield data
                pages = int((body.get("meta") or {}).get("no_of_pages") or 0)
                if page >= pages or not data:
                    break
                page += 1

    def mark_exported(self, line_ids: list[int]) -> dict:
        return self._call("POST", "mark_exported", {"ci_lineitem_ids": json.dumps(line_ids)})

    def tracking_notification(self, items: list[dict]) -> dict:
        return self._call("POST", "tracking_notification", {"tracking_info": json.dumps(items)})
