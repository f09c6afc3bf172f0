"""The HTTP client base every channel client builds on.

``ChannelClient`` takes an Airflow connection id and lets ``HttpHook`` turn the connection into a
session (base URL from schema/host/port, TLS and proxy extras). On top it adds what every channel
needs and the hook leaves to callers:

- a timeout on every request;
- a request-rate limiter (pools cap concurrent tasks, not requests per second);
- 429 handling inside the attempt: wait ``Retry-After`` (capped) without spending a task retry,
  and only past the cap raise ``RateLimited``;
- exponential backoff (tenacity) on 5xx, 408, timeouts, dropped connections and unreadable
  bodies, then ``Retryable``; at once: 401/403 ``AuthError``, 404/405/410 ``EndpointNotFound`` (a
  wrong path, not a refused row), any other 4xx ``InvalidPayload``;
- URLs in logs and errors with secrets masked (Groupon sends its token in the query string);
- no connection extra sent as a header unless the client names it (``header_extras``);
- the connection's extras read once, into the client's settings class (``settings_class``, a
  ``channels.settings.ChannelSettings``): an unknown or malformed extra fails the first task with
  a ``SettingsError`` naming it, instead of being ignored.

Connection extras read here (``ChannelSettings``; the rest is the channel's settings): ``api_path``
(prefix of every path), ``timeout`` (seconds, default 30), ``rate_per_second`` (default: no
limit), ``max_retry_after`` (seconds, default 300).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
import tenacity
from requests.auth import AuthBase

from orderbridge.channels.settings import ChannelSettings
from orderbridge.errors import AuthError, EndpointNotFound, InvalidPayload, RateLimited, Retryable
from orderbridge.fastpath import paused_gc

log = logging.getLogger(__name__)

# Answers that say the path itself is wrong (a wrong api_path, host or route): every request there
# meets the same answer, so the task fails at once instead of refusing row after row.
ENDPOINT_NOT_FOUND = frozenset({404, 405, 410})
# Answers worth trying again: the server or something between us was busy or slow.
TRANSIENT_4XX = frozenset({408})
# A task waiting (Retry-After, a call budget, backoff) says so at least this often, so its log never
# looks hung; waits shorter than PROGRESS_FROM (a rate limiter's spacing) are not logged.
PROGRESS_EVERY, PROGRESS_FROM = 30.0, 5.0


def wait_logged(sleep: Callable[[float], None], seconds: float, what: str, *, where: str = "") -> None:
    """Sleep ``seconds`` in steps of at most ``PROGRESS_EVERY``, logging before each step what the
    wait is for and how much of it is left."""
    left = seconds
    while True:
        if seconds >= PROGRESS_FROM:
            log.info("%s%s: waiting, %.0f s of %.0f s left", where, what, left, seconds)
        step = min(PROGRESS_EVERY, left)
        sleep(step)
        left -= step
        if left <= 0:
            return


class _NoAuth(AuthBase):
    """Channels authenticate in their own way (query token, bearer, header), never HTTP basic."""

    def __init__(self, *_args: Any) -> None:
        pass

    def __call__(self, request):
        return request


class RateLimiter:
    """At most ``rate`` requests per second from this client (a minimum spacing between starts)."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.interval = 1.0 / rate if rate else 0.0
        self._next = 0.0
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            self._sleep(start - now)


class ChannelClient:
    """Base for channel clients: one Airflow connection, one session, classified errors.

    ``settings`` holds the connection's extras, read by ``settings_class`` (header extras aside).

    Args:
        conn_id: Airflow connection id (``orderbridge_<channel>_<account>``).
        account: account name, used in error messages.
        max_attempts: tries per request for transient errors before raising ``Retryable``.
        backoff: first backoff in seconds (doubles each try, up to ``backoff_max``); 0 in tests.
        max_retry_after: most seconds one request may spend waiting on 429s before ``RateLimited``
            (default: the extra ``max_retry_after``).

    Raises:
        SettingsError: an extra the settings class does not know, or one it cannot read.
    """

    channel = "generic"
    # Connection extras that ARE HTTP headers for this channel. ``HttpHook.get_conn`` copies every
    # extra it does not recognise into the session headers; all others are removed again, so a
    # setting (or a ``client_secret``) is never sent to the channel on every request.
    header_extras: frozenset[str] = frozenset()
    # The model of the connection's extras (header extras aside): a subclass names its channel's.
    settings_class: type[ChannelSettings] = ChannelSettings

    def __init__(self, conn_id: str, account: str = "", *, max_attempts: int = 4, backoff: float = 1.0,
                 backoff_max: float = 30.0, max_retry_after: float | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        from airflow.providers.http.hooks.http import HttpHook

        self.conn_id = conn_id
        self.account = account
        self._hook = HttpHook(method="GET", http_conn_id=conn_id, auth_type=_NoAuth)
        self.connection = self._hook.get_connection(conn_id)
        self.extra = self.connection.extra_dejson
        self.settings = self.read_settings()
        self.timeout = self.settings.timeout
        self.max_attempts = max_attempts
        self.backoff, self.backoff_max = backoff, backoff_max
        self.max_retry_after = float(max_retry_after if max_retry_after is not None
                                     else self.settings.max_retry_after)
        self._raw_sleep = sleep
        self.limiter = RateLimiter(self.settings.rate_per_second,
                                   sleep=lambda s: self.wait(s, f"rate limit of {self.settings.rate_per_second:g}/s"))
        self._session: requests.Session | None = None
        self.secrets = [s for s in (self.connection.password,) if s]
        self.stats = {"requests": 0, "throttled": 0, "retried": 0}

    def wait(self, seconds: float, what: str) -> None:
        """Sleep, logging what for and how much is left at least every ``PROGRESS_EVERY`` seconds."""
        wait_logged(self._raw_sleep, seconds, what, where=f"{self.channel}/{self.account}: ")

    def _sleep(self, seconds: float) -> None:
        self.wait(seconds, "backing off before the next try")

    def read_settings(self) -> ChannelSettings:
        """The connection's extras as ``settings_class``; a channel whose settings need more context
        (Merkana: the platform) overrides this.

        Raises:
            SettingsError: an unknown or malformed extra, named in the message.
        """
        return self.settings_class.from_extra(self.extra, self.conn_id, headers=self.header_extras)

    # -- plumbing ---------------------------------------------------------------------------
    @property
    def session(self) -> requests.Session:
        if self._session is None:
            session = self._hook.get_conn()
            defaults = requests.utils.default_headers()
            for key in self.extra:
                if key not in self.header_extras:
                    session.headers.pop(key, None)
                    if key in defaults:  # an extra named like a default header (User-Agent) replaced it
                        session.headers[key] = defaults[key]
            self._session = session
        return self._session

    def url(self, path: str) -> str:
        base = self._hook.base_url.rstrip("/")
        prefix = self.settings.api_path.strip("/")
        return "/".join(p for p in (base, prefix, path.lstrip("/")) if p)

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def _error(self, cls, message: str, external_id: str = "", status_code: int | None = None):
        return cls(self.mask(message), channel=self.channel, account=self.account, external_id=external_id,
                   status_code=status_code)

    def _on_response(self, response: requests.Response) -> None:
        """Hook for channels that read budgets from every answer (plentymarkets' rate headers)."""

    # -- requests ---------------------------------------------------------------------------
    def request(self, method: str, path: str, *, external_id: str = "", decode: bool = False,
                once: bool = False, **kwargs: Any) -> Any:
        """Send one request with rate limiting, 429 waits, backoff and classified errors.

        Args:
            once: a single try: no backoff and no 429 wait (for a logout on the way out).

        Raises:
            AuthError: 401/403.
            EndpointNotFound: 404/405/410, the path does not exist there.
            InvalidPayload: any other 4xx.
            RateLimited: 429s lasted longer than ``max_retry_after`` (with ``once``: any 429).
            Retryable: 5xx, 408, timeouts, connection errors or (with ``decode``) unreadable JSON
                outlasted ``max_attempts`` (with ``once``: the first of them).
        """
        if once:
            return self._attempt(method, path, external_id, decode, kwargs, max_wait=0.0)
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(lambda e: isinstance(e, Retryable) and not isinstance(e, RateLimited)),
            stop=tenacity.stop_after_attempt(self.max_attempts),
            wait=tenacity.wait_exponential(multiplier=self.backoff, max=self.backoff_max),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        return retrying(self._attempt, method, path, external_id, decode, kwargs)

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        self.stats["retried"] += 1
        log.warning("%s/%s: %s; retry %d of %d", self.channel, self.account, state.outcome.exception(),
                    state.attempt_number, self.max_attempts - 1)

    def _attempt(self, method: str, path: str, external_id: str, decode: bool, kwargs: dict,
                 max_wait: float | None = None) -> Any:
        max_wait = self.max_retry_after if max_wait is None else max_wait
        waited = 0.0
        while True:
            self.limiter.wait()
            self.stats["requests"] += 1
            try:
                response = self.session.request(method, self.url(path), timeout=self.timeout, **kwargs)
            except requests.Timeout as err:
                raise self._error(Retryable, f"{method} {path}: no answer within {self.timeout:g} s",
                                  external_id) from err
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ContentDecodingError) as err:
                # ChunkedEncodingError: the connection dropped in the middle of the body.
                raise self._error(Retryable, f"{method} {path}: connection failed ({type(err).__name__})",
                                  external_id) from err
            self._on_response(response)
            if response.status_code != 429:
                self._check(response, method, path, external_id)
                return self._decode(response, path) if decode else response
            delay = _retry_after(response)
            if waited + delay > max_wait or not max_wait:
                raise self._error(RateLimited, f"{method} {path}: still 429 after waiting {waited:g} s "
                                  f"(Retry-After {delay:g} s)", external_id)
            self.stats["throttled"] += 1
            self.wait(delay, f"429 on {method} {path}, Retry-After {delay:g} s (waited {waited:g} s of at most "
                             f"{max_wait:g} s in this attempt)")
            waited += delay

    def _decode(self, response: requests.Response, path: str) -> Any:
        # JSON is UTF-8 (RFC 8259 §8.1) whatever the media type says. ``response.json()`` would
        # decode Groupon's charset-less ``text/json`` as ISO-8859-1 (the ``text/*`` default) and
        # store "SchloÃ\x9fallee"; ``json.loads`` of the bytes reads UTF-8 (and a BOM, UTF-16/32).
        try:
            with paused_gc():  # a page of orders is thousands of small dicts
                return json.loads(response.content)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise self._error(Retryable, f"{path}: unreadable JSON body ({len(response.content)} bytes)") from err

    def _check(self, response: requests.Response, method: str, path: str, external_id: str) -> None:
        code = response.status_code
        if code < 400:
            return
        reason = self.mask(_short_body(response))
        if code == 403 and (missing := _missing_permissions(response)):
            raise self._error(AuthError, f"{method} {path}: HTTP 403, the API user lacks the permission(s) "
                              f"{', '.join(missing)} ({reason}). Resolution: grant them to the API user "
                              f"{self.connection.login or '(no login set)'} of connection {self.conn_id} in the "
                              "channel's back end; the credentials themselves are fine.", external_id, code)
        if code in (401, 403):
            raise self._error(AuthError, f"{method} {path}: HTTP {code}, credentials refused ({reason}). "
                              f"Resolution: check login/password of connection {self.conn_id}.", external_id, code)
        if code == 404 and self._unknown_record(response):
            raise self._error(InvalidPayload, f"{method} {path}: HTTP 404, the channel has no such record ({reason})",
                              external_id, code)
        if code in ENDPOINT_NOT_FOUND:
            where = self.mask(urlsplit(response.url or self.url(path)).path)  # the path as sent, no query
            raise self._error(EndpointNotFound, f"{method} {where}: HTTP {code}, no such endpoint ({reason}). "
                              f"Resolution: check host, port and the extra api_path of connection {self.conn_id} "
                              "against the channel's API reference (pending write-backs wait for the fix).",
                              external_id, code)
        if code >= 500 or code in TRANSIENT_4XX:
            raise self._error(Retryable, f"{method} {path}: HTTP {code} ({reason})", external_id, code)
        raise self._error(InvalidPayload, f"{method} {path}: HTTP {code} ({reason})", external_id, code)

    def _unknown_record(self, response: requests.Response) -> bool:
        """True when a 404 says the record addressed does not exist (the endpoint works): that one
        write-back is refused, the others go on. Default False: a 404 is a wrong path or host."""
        return False

    def request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        """``request`` and decode the JSON body; an unreadable body is retried like a 5xx."""
        return self.request(method, path, decode=True, **kwargs)


def _retry_after(response: requests.Response) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return max(float(value), 0.0)
    except ValueError:
        return 5.0  # absent or an HTTP date: a short, fixed wait is safer than guessing


def _missing_permissions(response: requests.Response) -> list[str]:
    """The permissions a 403 names (plentymarkets, B3: ``{"error": {"missing_permissions": [...]}}``)."""
    try:
        body = json.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return []
    error = body.get("error") if isinstance(body, dict) else None
    names = error.get("missing_permissions") if isinstance(error, dict) else None
    return [str(n)[:100] for n in names[:20]] if isinstance(names, list) else []


def _short_body(response: requests.Response, limit: int = 200) -> str:
    text = response.content.decode("utf-8", "replace").strip().replace("\n", " ")
    return text[:limit] + ("..." if len(text) > limit else "")
