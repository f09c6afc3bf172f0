"""OAuth2 client credentials, one token shared by every task of a client id (Octopia, Shoprenter api2).

Token endpoints ration tokens (Octopia: 500 an hour per client id, octopia-api.md §1), and a
token per task would spend the quota with a few dozen accounts. So the token is fetched
(authlib's ``OAuth2Session``; the client authentication is the channel's: Octopia's form body,
``client_secret_post``, or Shoprenter's JSON body, ``json_body``) once per client id and kept in
``staging.oauth_tokens``, where every worker reads it until ``margin`` seconds before it expires.

How it is protected: the row holds the token Fernet-encrypted (AES-128-CBC + HMAC) with a key
derived by HKDF-SHA256 from the client secret, which lives only in the Airflow connection. The
database (backups, a read-only analyst) never sees a usable token, and a secret rotated in the
connection simply cannot read the old row: a new token is fetched. The token never goes to logs
(the client masks it) nor XCom (tasks return counts).

Renewal takes the row lock (``SELECT ... FOR UPDATE``), so concurrent tasks that find the token
stale fetch one token between them: the others wait for the lock and read the new one. A 401 on a
data call renews only if the cached token is still the one that was refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from orderbridge.errors import AuthError, RateLimited, Retryable

SALT = b"orderbridge oauth token cache v1"
TOKEN_ATTEMPTS = 3  # tries of one token request before the task's retry takes over
MAX_TOKEN_WAIT = 60.0  # seconds one token request may wait on 429s and backoff in all


def fernet_for(client_secret: str, token_key: str) -> Fernet:
    """The Fernet whose key is HKDF-SHA256(client secret), bound to this token row."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=SALT, info=token_key.encode()).derive(
        client_secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def json_body(auth, method: str, uri: str, headers: dict, body: str):
    """authlib client authentication for a token endpoint that takes JSON (Shoprenter, reference A1):
    ``{"grant_type", "client_id", "client_secret"}`` instead of a form."""
    from urllib.parse import parse_qsl

    fields = dict(parse_qsl(body or ""))
    fields.update(client_id=auth.client_id, client_secret=auth.client_secret)
    headers = {**headers, "Content-Type": "application/json", "Accept": "application/json"}
    return uri, headers, json.dumps(fields)


def token_key(token_url: str, client_id: str) -> str:
    return hashlib.sha256(f"{token_url}\n{client_id}".encode()).hexdigest()


class TokenCache:
    """The shared access token of one client id at one token endpoint.

    Args:
        connect: opens a psycopg2 connection to staging (one short transaction per use).
        fetch: ``() -> (access_token, expires_in seconds)``; default: authlib against ``token_url``.
        clock: now (UTC); tests pass a fake one.
        margin: renew this long before the token expires.
        auth_method: how authlib authenticates the client at the token endpoint (a name or a
            callable such as ``json_body``).
        resolution: what a person does when the endpoint refuses the credentials.
        default_expires: seconds a token lives when the answer has no usable ``expires_in``.
    """

    def __init__(self, connect: Callable, token_url: str, client_id: str, client_secret: str, *,
                 timeout: float = 30.0, margin: timedelta = timedelta(minutes=5),
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 fetch: Callable[[], tuple[str, int]] | None = None, channel: str = "", account: str = "",
                 auth_method: str | Callable = "client_secret_post", resolution: str = "", default_expires: int = 7200):
        self.connect, self.token_url, self.client_id = connect, token_url, client_id
        self.key = token_key(token_url, client_id)
        self._fernet = fernet_for(client_secret, self.key)
        self._secret, self.timeout, self.margin, self.clock = client_secret, timeout, margin, clock
        self.fetch = fetch or self._fetch_patiently
        self.where = {"channel": channel, "account": account}
        self.fetched = 0  # tokens this instance asked the endpoint for
        self.auth_method, self.default_expires = auth_method, default_expires
        self.resolution = resolution or (f"Resolution: check login (client id) and password (client secret) of the "
                                         f"{channel} connection.")

    def get(self, refused: str | None = None) -> str:
        """A valid access token: the cached one, or a new one when it is stale, unreadable or is
        ``refused`` (the token a data call just got 401 for)."""
        with closing(self.connect()) as conn:
            with conn.cursor() as cur:
                token = self._read(cur, refused, lock=False)
                if token is None:
                    cur.execute("INSERT INTO staging.oauth_tokens (token_key, token_url, client_id) VALUES (%s, %s, %s)"
                                " ON CONFLICT DO NOTHING", (self.key, self.token_url, self.client_id))
                    conn.commit()
                    token = self._read(cur, refused, lock=True)  # another task may have renewed it meanwhile
                    if token is None:
                        token, expires_in = self.fetch()
                        self.fetched += 1
                        cur.execute("""UPDATE staging.oauth_tokens SET token = %s, expires_at = %s,
                                       issued = issued + 1, issued_at = %s WHERE token_key = %s""",
                                    (self._fernet.encrypt(token.encode()),
                                     self.clock() + timedelta(seconds=expires_in), self.clock(), self.key))
            conn.commit()
        return token

    def _read(self, cur, refused: str | None, lock: bool) -> str | None:
        cur.execute("SELECT token, expires_at FROM staging.oauth_tokens WHERE token_key = %s"
                    + (" FOR UPDATE" if lock else ""), (self.key,))
        row = cur.fetchone()
        if not row or row[0] is None or row[1] is None or row[1] - self.margin <= self.clock():
            return None
        try:
            token = self._fernet.decrypt(bytes(row[0])).decode()
        except InvalidToken:
            return None  # the secret was rotated: the old token is unreadable, fetch one with the new
        return None if token == refused else token

    def _fetch_patiently(self) -> tuple[str, int]:
        """``_fetch`` with the patience of every other call: a 5xx or a dropped connection is tried
        again after a short backoff, a 429 after its Retry-After (up to ``MAX_TOKEN_WAIT`` s in
        all), ``TOKEN_ATTEMPTS`` tries at most; then the task's own retry takes over."""
        waited, attempt = 0.0, 1
        while True:
            try:
                return self._fetch()
            except Retryable as err:
                delay = getattr(err, "retry_after", None)
                delay = float(2 ** (attempt - 1)) if delay is None else delay
                if attempt >= TOKEN_ATTEMPTS or waited + delay > MAX_TOKEN_WAIT:
                    raise
            time.sleep(delay)
            waited, attempt = waited + delay, attempt + 1

    def _fetch(self) -> tuple[str, int]:
        """One client-credentials grant (authlib), errors in the project's classes.

        Raises:
            AuthError: the endpoint refused our client id or secret (4xx).
            RateLimited: 429, the token quota (500 an hour per client id) is spent.
            Retryable: no answer, a 5xx or an unreadable answer.
        """
        answers: list[requests.Response] = []
        session = OAuth2Session(self.client_id, self._secret, token_endpoint_auth_method=self.auth_method)
        session.hooks["response"].append(lambda response, *args, **kwargs: answers.append(response))
        try:
            token = session.fetch_token(self.token_url, grant_type="client_credentials", timeout=self.timeout)
        except requests.RequestException as err:
            raise Retryable(f"token endpoint {self.token_url}: no answer ({type(err).__name__})", **self.where) from err
        except (AuthlibBaseError, ValueError) as err:
            raise self._refused(answers[-1] if answers else None, err) from err
        finally:
            session.close()
        if answers and answers[-1].status_code >= 400:
            raise self._refused(answers[-1], None)
        access, expires_in = token.get("access_token"), token.get("expires_in")
        if not access:
            raise Retryable(f"token endpoint {self.token_url} answered without access_token", **self.where)
        try:
            seconds = int(expires_in) if expires_in is not None else self.default_expires
        except (TypeError, ValueError):
            seconds = self.default_expires
        return access, seconds

    def _refused(self, answer: requests.Response | None, err: Exception | None):
        # authlib's message holds the endpoint's error and description, never our secret.
        said = f" ({str(err)[:200]})" if err else ""
        status = answer.status_code if answer is not None else None
        if status == 429:
            limited = RateLimited(f"token endpoint {self.token_url}: HTTP 429, the token quota of this client id is "
                                  f"spent{said}", status_code=status, **self.where)
            try:
                limited.retry_after = max(float(answer.headers.get("Retry-After", "")), 0.0)
            except ValueError:
                limited.retry_after = 60.0  # no usable Retry-After: a quota is not back in a second
            return limited
        if status is not None and 400 <= status < 500:
            return AuthError(f"token endpoint {self.token_url}: HTTP {status}, client id {self.client_id} or its "
                             f"secret refused{said}. {self.resolution}",
                             status_code=status, **self.where)
        return Retryable(f"token endpoint {self.token_url}: HTTP {status}{said}", status_code=status, **self.where)

    def issued(self) -> int:
        """How many tokens this client id was given, by any worker (``staging.oauth_tokens.issued``)."""
        with closing(self.connect()) as conn, conn.cursor() as cur:
            cur.execute("SELECT issued FROM staging.oauth_tokens WHERE token_key = %s", (self.key,))
            row = cur.fetchone()
        return row[0] if row else 0
