"""Structured JSON logs: one JSON object per line, carrying the current request id, with secrets scrubbed.

The request id lives in a context variable set by :func:`gateway.web.requestid.request_id_middleware`,
so every line logged while serving a request carries it, whichever module logs.
Secrets never reach the output, by one rule (:func:`redact_value`): a field or query parameter whose *name* is a
secret's (:data:`SECRET_NAME_PATTERNS`, whole names such as ``access_token`` or ``X-Amz-Signature``, never a
fragment inside an identifier such as ``passport_iss``) is replaced by ``[redacted]``, and every string is scrubbed
for what it *holds* (:func:`redact`: JWTs, bearer/basic credentials, secret query parameters of any URL in it) —
the access log's path, messages, extras and exception texts alike.

The access log's volume is set by its mode (``log.access``, :func:`access_wanted`): every request (the default),
errors and slow requests only, those plus a sample of the rest, or none.
"""

from __future__ import annotations

import contextvars
import functools
import io
import logging
import re
import sys
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import orjson

from gateway.core.concurrency import while_running
from gateway.core.prng import seeded

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
REDACTED = "[redacted]"

# --- the one table of secret names --------------------------------------------------------------------------------

SECRET_NAME_PATTERNS: tuple[str, ...] = (
    # bearer credentials of every kind: access_token, id_token, refresh_token, accessToken, X-Amz-Security-Token…
    "*token", "*tokens",
    # shared secrets and passwords: client_secret, secret, secret_key, password, db_password, passwd
    "*secret", "secret*", "*password", "password*", "*passwd",
    # signatures of signed URLs: Signature (S3 v2, GCS v2), X-Amz-Signature, X-Goog-Signature, sig (Azure SAS)
    "*signature", "sig", "*_sig",
    # API keys: key (Google APIs), api_key, apiKey, x-api-key, apikey, secret_key, privateKey
    "key", "*_key", "*apikey",
    # OAuth and OIDC: code, code_verifier, client_assertion
    "code", "code_verifier", "*assertion",
    # credentials: credential, credentials, X-Amz-Credential, X-Goog-Credential
    "credential*", "*credential", "*credentials",
    # sessions and auth: sessionid, session_id, JSESSIONID, PHPSESSID, auth, auth_token, authorization
    "session*", "*sessionid", "*sessid", "auth", "auth_*", "authorization*", "authentication*",
    # the tokens themselves: jwt, cookie, set-cookie, passport, passports
    "jwt", "*_jwt", "*cookie", "passport", "passports",
)
"""Names of fields and query parameters whose values are secrets, as patterns over the name in snake case (``-``
and ``.`` read as ``_``, camelCase split: ``X-Amz-Signature`` is ``x_amz_signature``, ``accessToken`` is
``access_token``): ``word`` (exactly), ``word*`` (starts with), ``*word`` (ends with). The patterns anchor on how
secrets are *named* (``access_token``, ``client_secret``, ``X-Amz-Credential``), never on a fragment inside an
identifier's name: ``passport_iss``, ``token_issuer``, ``key_id``, ``authority``, ``status_code`` and ``X-Amz-Date``
are not secrets and are logged as they are."""


def _compile_patterns(patterns: tuple[str, ...]) -> tuple[frozenset[str], tuple[str, ...], tuple[str, ...]]:
    exact, prefixes, suffixes = set(), [], []
    for pattern in patterns:
        core = pattern.strip("*")
        if not core or "*" in core or pattern.count("*") > 1:
            raise ValueError(f"secret name pattern {pattern!r}: use word, word* or *word")
        if pattern.endswith("*"):
            prefixes.append(core)
        elif pattern.startswith("*"):
            suffixes.append(core)
        else:
            exact.add(core)
    return frozenset(exact), tuple(prefixes), tuple(suffixes)


_EXACT, _PREFIXES, _SUFFIXES = _compile_patterns(SECRET_NAME_PATTERNS)
_NAME_FOLD = str.maketrans("-.", "__")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """Whether a field or query parameter called ``name`` holds a secret (:data:`SECRET_NAME_PATTERNS`). A
    percent-encoded name is judged by what it decodes to (``access%5Ftoken`` is ``access_token``)."""
    if "%" in name:
        name = unquote(name)
    folded = _CAMEL.sub("_", name).lower().translate(_NAME_FOLD)
    return folded in _EXACT or folded.startswith(_PREFIXES) or folded.endswith(_SUFFIXES)


# a name=value pair anywhere in a text (a URL's query, a form body, a message): the name is what a query parameter
# name is made of, not preceded by more of it; the value runs to the next separator
_PARAM = re.compile(r"(?<![A-Za-z0-9_.%~-])([A-Za-z0-9_.%~-]+)=([^&;\s#\"'<>]*)")

# Attributes every LogRecord has; anything else passed via ``extra=`` is emitted as a field.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}
_MILLIS = tuple(f"{ms:03d}" for ms in range(1000))
"""The milliseconds of a timestamp as text, looked up (formatting them was a tenth of an access line)."""


def _param(match: re.Match[str]) -> str:
    return f"{match.group(1)}={REDACTED}" if is_secret_name(match.group(1)) else match.group(0)


def redact(text: str) -> str:
    """``text`` with what it holds scrubbed: JWTs, bearer/basic credentials, and the value of every ``name=value``
    pair whose name is a secret's (:func:`is_secret_name`), in a URL's query or anywhere else.

    Each pattern runs only when a cheap substring test says it could match (this runs on every access-log
    line): a JWT needs ``eyJ``, a credential ``bearer``/``basic``, a parameter ``=``.
    """
    if "eyJ" in text:
        text = _JWT.sub(REDACTED, text)
    lowered = text.lower()
    if "bearer" in lowered or "basic" in lowered:
        text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    if "=" in text:
        for name, _ in _PARAM.findall(text):  # most texts name no secret: then nothing is rebuilt
            if is_secret_name(name):
                return _PARAM.sub(_param, text)
    return text


def redact_value(name: str, value: Any) -> Any:
    """``value`` of the field ``name`` as it may be logged: ``[redacted]`` when the name is a secret's, else its
    strings scrubbed by :func:`redact` (nested mappings judged key by key)."""
    if is_secret_name(name):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(name, v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line: time, level, logger, message, request_id and extras."""

    def __init__(self) -> None:
        super().__init__()
        self._second: int = -1
        self._second_text = ""

    def _timestamp(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:
            self._second, self._second_text = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._second_text}.{int(record.msecs):03d}Z"

    def _extra(self, key: str, value: Any) -> Any:
        if is_secret_name(key):
            return REDACTED
        if isinstance(value, (int, float, bool)) or value is None:
            return value
        if isinstance(value, str):  # the name was judged above; only the text is left to scrub
            return redact(value)
        return redact_value(key, value)

    def access_line(self, logger: str, method: str, path: str, status: int, duration_ms: float,
                    remote: str | None) -> str:
        """The line :meth:`format` would write for an access record with these extras, built without a
        ``LogRecord`` (one per request was a fifth of a cached DRS hit). Same keys and redaction: only
        ``path`` can carry a secret (a token in the query); the others are a method token, numbers and an
        address."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second, self._second_text = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        ts = f"{self._second_text}.{_MILLIS[int((now - second) * 1000)]}Z"
        rid = request_id_var.get()
        out = ({"ts": ts, "level": "info", "logger": logger, "msg": "request", "request_id": rid, "method": method,
                "path": redact(path), "status": status, "duration_ms": duration_ms, "remote": remote} if rid else
               {"ts": ts, "level": "info", "logger": logger, "msg": "request", "method": method,
                "path": redact(path), "status": status, "duration_ms": duration_ms, "remote": remote})
        return orjson.dumps(out).decode()

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self._timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        rid = getattr(record, "request_id", None) or request_id_var.get()
        if rid:
            out["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key != "request_id" and not key.startswith("_"):
                out[key] = self._extra(key, value)
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(out, default=str).decode()


FLUSH_INTERVAL = 0.25
"""Seconds buffered log lines may wait before they are written (warnings and errors never wait)."""


class BatchedStreamHandler(logging.StreamHandler[Any]):
    """A stream handler that writes lines in batches: at most every :data:`FLUSH_INTERVAL` seconds, at
    once for warnings and errors, and whenever :func:`flush_logs` runs (the app calls it periodically and
    at shutdown). One ``write`` system call per request was a large share of a cached DRS hit."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._flushed = time.monotonic()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + "\n")
            now = time.monotonic()
            if record.levelno >= logging.WARNING or now - self._flushed >= FLUSH_INTERVAL:
                self._flushed = now
                self.flush()
        except Exception:
            self.handleError(record)


    def write_line(self, line: str) -> None:
        """Write a preformatted info line (the access log's fast path), under the same flush rule."""
        try:
            self.stream.write(line + "\n")
            now = time.monotonic()
            if now - self._flushed >= FLUSH_INTERVAL:
                self._flushed = now
                self.flush()
        except Exception:
            pass


# --- which requests the access log records --------------------------------------------------------------------

ACCESS_MODES = ("full", "errors", "sampled", "off")
"""``log.access``: every request; errors and slow ones only; those plus a sample of the rest; none."""


@dataclass(frozen=True)
class AccessPolicy:
    """Which requests get an access-log line (:func:`access_wanted`). The default logs every request."""

    mode: str = "full"
    sample_rate: float = 0.01
    slow_ms: float = 1000.0

    def __post_init__(self) -> None:
        if self.mode not in ACCESS_MODES:
            raise ValueError(f"access log mode {self.mode!r}: one of {', '.join(ACCESS_MODES)}")
        if not 0 < self.sample_rate <= 1:
            raise ValueError(f"access log sample rate {self.sample_rate}: above 0, at most 1")


def access_wanted(policy: AccessPolicy, status: int, duration_ms: float, draw: float) -> bool:
    """Whether a request answered ``status`` in ``duration_ms`` is logged, ``draw`` being uniform in [0, 1).

    ``full``: always; ``off``: never; ``errors`` and ``sampled``: always when the status is 400 or above or the
    request took at least ``slow_ms`` (an error is never sampled away), and otherwise, in ``sampled`` mode only,
    when ``draw < sample_rate``."""
    if policy.mode == "full":
        return True
    if policy.mode == "off":
        return False
    if status >= 400 or duration_ms >= policy.slow_ms:
        return True
    return policy.mode == "sampled" and draw < policy.sample_rate


_access_policy = AccessPolicy()
_draws = seeded(16)
"""The sample needs to be fair, not secret: a seeded PRNG avoids a system call per request."""


def access_policy() -> AccessPolicy:
    """The access-log policy :func:`configure_logging` set (every request by default)."""
    return _access_policy


def log_access(
    logger: logging.Logger, method: str, path: str, status: int, duration_ms: float, remote: str | None
) -> None:
    """One access-log line, if the access-log policy (:func:`access_wanted`) wants this request. When the root
    handler is ours with the JSON formatter (``configure_logging``), the line is built and written directly;
    otherwise (text format, test capture handlers) it goes through the logging machinery as a normal record with
    the same fields."""
    if logger.disabled or not logger.isEnabledFor(logging.INFO):
        return
    policy = _access_policy
    if policy.mode != "full" and not access_wanted(policy, status, duration_ms, _draws.random()):
        return
    handlers = logging.getLogger().handlers
    if len(handlers) == 1 and logger.propagate and not logger.handlers and not logger.filters:
        handler = handlers[0]
        if isinstance(handler, BatchedStreamHandler) and isinstance(handler.formatter, JsonFormatter) \
                and not handler.filters and handler.level <= logging.INFO:
            handler.write_line(handler.formatter.access_line(logger.name, method, path, status, duration_ms, remote))
            return
    fields = {"method": method, "path": path, "status": status, "duration_ms": duration_ms, "remote": remote}
    logger.handle(logger.makeRecord(logger.name, logging.INFO, __file__, 0, "request", (), None, extra=fields))


def _stderr_buffered() -> Any:
    """stderr with a 64 KiB buffer (Python's own stderr is line-buffered: one syscall per line)."""
    raw = io.FileIO(sys.stderr.fileno(), "w", closefd=False)
    return io.TextIOWrapper(io.BufferedWriter(raw, 1 << 16), encoding="utf-8", errors="backslashreplace")


def flush_logs() -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()


log_flusher = while_running(FLUSH_INTERVAL, flush_logs)
"""An aiohttp ``cleanup_ctx``: batched lines are written at least every :data:`FLUSH_INTERVAL` seconds while the app
runs, and at shutdown."""


def configure_logging(level: str = "info", *, fmt: str = "json", access: bool | str = True,
                      access_sample_rate: float = 0.01, access_slow_ms: float = 1000.0, stream: Any = None) -> None:
    """Send every logger's output through one handler on ``stream`` (stderr, batched, by default).

    ``access`` is the access log's mode (:data:`ACCESS_MODES`, ``log.access``; ``True``/``False`` read as ``full``
    and ``off``), ``access_sample_rate`` and ``access_slow_ms`` its sampling share and slow-request threshold
    (:func:`access_wanted`).

    Records are formatted inline and written in batches (:class:`BatchedStreamHandler`): a queue and
    listener thread was measured slower under load (GIL contention; bench/bench_refcommons.py).
    """
    try:
        target = stream or _stderr_buffered()
    except (AttributeError, OSError, ValueError):  # stderr without a file descriptor (e.g. captured)
        target = sys.stderr
    handler = BatchedStreamHandler(target)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        handler.addFilter(_TextRedactionFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Our lines carry no thread, process or task names: skip collecting them for every record (the
    # logging HOWTO's "Optimization" switches; a measurable share of each access-log line otherwise).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.logAsyncioTasks = False  # type: ignore[attr-defined]  # Python 3.12+; a no-op before
    # httpx logs every upstream call at info ("HTTP Request: GET …"): noise, and a cost on every call;
    # the adapters log what matters (retries, failures) themselves
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # aiohttp's own access logger is replaced by ours (gateway.web.requestid)
    logging.getLogger("aiohttp.access").disabled = True
    global _access_policy
    mode = access if isinstance(access, str) else ("full" if access else "off")
    _access_policy = AccessPolicy(mode, access_sample_rate, access_slow_ms)
    logging.getLogger("gateway.access").disabled = mode == "off"


class _TextRedactionFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = ()
        return True
