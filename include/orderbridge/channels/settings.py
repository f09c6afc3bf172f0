"""Connection extras as typed settings: the base every channel's settings extend.

Each channel account has one Airflow connection; its JSON extras are read once, when the client is
built (``ChannelClient.settings``), into a frozen pydantic model: the extras every client reads
(``ChannelSettings``) plus the channel's own (``channels/<name>/settings.py``). An extra the model
does not know, or a value of the wrong shape, is a ``SettingsError`` (``Permanent``: the task
fails at once, as retrying cannot fix a connection). The message names every such extra and never
its value, since extras may hold secrets, and its Resolution lists the extras the channel takes.

Why refuse unknown extras: a misspelt ``rate_per_secnd`` or ``status_fetsh`` would otherwise be
ignored without a word, and the account would run on defaults nobody chose.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from orderbridge.errors import SettingsError

# How pydantic's error types read in a message ("extra timeout must be a number").
_PHRASES = {
    "extra_forbidden": "is not an extra this channel reads",
    "int_parsing": "must be a whole number", "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number", "float_type": "must be a number",
    "decimal_parsing": "must be a number", "decimal_type": "must be a number",
    "finite_number": "must be a finite number",
    "string_type": "must be a string",
    "bool_parsing": "must be true or false", "bool_type": "must be true or false",
    "dict_type": "must be an object", "list_type": "must be a list",
}


class ChannelSettings(BaseModel):
    """The extras every channel client reads (``orderbridge.http.ChannelClient``).

    Attributes:
        api_path: path prefix of every request, e.g. ``/api/v4`` (default none).
        timeout: seconds to wait for an answer, > 0 (default 30).
        rate_per_second: most requests per second this client starts; absent, empty or 0: no limit.
        max_retry_after: most seconds one request spends waiting on 429s inside a task attempt
            before ``RateLimited`` (default 300).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The channel named in errors; a subclass sets it.
    channel: ClassVar[str] = ""
    # Model fields that are not extras: set by the caller (``from_extra(..., **context)``), refused
    # as unknown when an extra carries them.
    context_fields: ClassVar[frozenset[str]] = frozenset()
    # Extras an older version read and nothing reads now: accepted and ignored, so a connection
    # that still has one keeps working (a subclass lists them).
    retired_extras: ClassVar[frozenset[str]] = frozenset()

    api_path: str = ""
    timeout: float = Field(30.0, gt=0, allow_inf_nan=False)
    rate_per_second: float | None = Field(None, ge=0, allow_inf_nan=False)
    max_retry_after: float = Field(300.0, ge=0, allow_inf_nan=False)

    @field_validator("rate_per_second", mode="before")
    @classmethod
    def _no_limit(cls, value: Any) -> Any:
        return None if value in (None, "", 0) else value

    @classmethod
    def extras(cls) -> frozenset[str]:
        """The extra names this model reads (field aliases where a field has one)."""
        return frozenset(f.alias or name for name, f in cls.model_fields.items()
                         if name not in cls.context_fields)

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any], conn_id: str = "", /, *, headers: Collection[str] = (),
                   **context: Any) -> Self:
        """Read and check a connection's extras.

        Args:
            extra: the connection's extras (``Connection.extra_dejson``).
            conn_id: the connection, named in errors.
            headers: extras that are HTTP headers (the client's ``header_extras``): accepted, and
                left to the session, not part of the settings.
            context: values of ``context_fields`` (not extras), e.g. Merkana's ``platform``.

        Returns:
            The settings, frozen.

        Raises:
            SettingsError: an unknown extra or a value of the wrong shape; the message names every
                one of them (not their values) and lists the extras this channel takes.
            TypeError: ``context`` names a field that is not one of ``context_fields``.
        """
        if stray := sorted(set(context) - cls.context_fields):
            raise TypeError(f"{cls.__name__}.from_extra: {', '.join(stray)} are not context fields")
        extra = dict(extra or {})
        skipped = set(headers) | cls.retired_extras
        # A context field is no extra: given as one, it is unknown (and the caller's value stands).
        unknown = sorted(k for k in extra if k in cls.context_fields)
        values = {k: v for k, v in extra.items() if k not in skipped and k not in cls.context_fields}
        problems = [f"extra {key} {_PHRASES['extra_forbidden']}" for key in unknown]
        try:
            settings = cls.model_validate({**values, **context})
        except ValidationError as err:
            problems += [_problem(e) for e in err.errors(include_url=False, include_input=False)]
        else:
            if not problems:
                return settings
        where = f"connection {conn_id}" if conn_id else "the connection"
        takes = ", ".join(sorted(cls.extras() | set(headers)))
        retired = f" (and, ignored, {', '.join(sorted(cls.retired_extras))})" if cls.retired_extras else ""
        whose = f"{cls.channel} connections take" if cls.channel else "this connection takes"
        raise SettingsError(f"{where}: {'; '.join(problems)}. Resolution: remove or correct these extras of "
                            f"{where}; {whose} the extras {takes}{retired}.", channel=cls.channel)


def _problem(error: Mapping[str, Any]) -> str:
    """One validation error as "extra <name> <what is wrong>", without the value."""
    name = ".".join(str(part) for part in error.get("loc", ()))
    kind, ctx = error.get("type", ""), error.get("ctx") or {}
    if kind == "value_error" and "error" in ctx:
        phrase = str(ctx["error"])
    elif kind == "literal_error":
        phrase = f"must be {ctx.get('expected', 'one of the documented values')}"
    elif kind == "greater_than":
        phrase = f"must be greater than {ctx.get('gt')}"
    elif kind == "greater_than_equal":
        phrase = f"must be at least {ctx.get('ge')}"
    elif kind == "less_than_equal":
        phrase = f"must be at most {ctx.get('le')}"
    elif kind == "missing":
        phrase = "is required"
    else:
        phrase = _PHRASES.get(kind) or str(error.get("msg", "is not valid")).replace("Input should", "should")
    return f"extra {name} {phrase}" if name else phrase  # no name: a check across extras, named in phrase
