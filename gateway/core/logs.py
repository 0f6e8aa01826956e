"""Structured JSON logs: one JSON object per line, carrying the current request id, with secrets scrubbed.

The request id lives in a context variable set by :func:`gateway.web.requestid.request_id_middleware`,
so every line logged while serving a request carries it, whichever module logs.
Secrets never reach the output: bearer tokens, JWTs and secret-named query parameters or fields
are replaced by ``[redacted]`` before formatting (:func:`redact`).
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import logging
import re
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
SECRET_NAMES = (
    "authorization", "token", "api_key", "apikey", "secret", "password", "passport", "signature", "sig", "cookie",
)
_SECRET_PARAM = re.compile(
    r"(?i)\b(" + "|".join(re.escape(n) for n in SECRET_NAMES) + r"|access_token|refresh_token|passports)=([^&\s]+)"
)
REDACTED = "[redacted]"

# Attributes every LogRecord has; anything else passed via ``extra=`` is emitted as a field.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}


def redact(text: str) -> str:
    """``text`` with JWTs, bearer/basic credentials and secret query parameters replaced.

    Each pattern runs only when a cheap substring test says it could match (this runs on every access-log
    line): a JWT needs ``eyJ``, a credential ``bearer``/``basic``, a secret parameter ``=`` and a secret name.
    """
    if "eyJ" in text:
        text = _JWT.sub(REDACTED, text)
    lowered = text.lower()
    if "bearer" in lowered or "basic" in lowered:
        text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    if "=" in text and any(name in lowered for name in SECRET_NAMES):
        text = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    return text


def _is_secret_field(name: str) -> bool:
    lowered = name.lower()
    return any(s in lowered for s in SECRET_NAMES)


def redact_value(name: str, value: Any) -> Any:
    if _is_secret_field(name):
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
        self._secret_field: dict[str, bool] = {}  # per-key verdicts: extras reuse a handful of names
        self._second: int = -1
        self._second_text = ""

    def _timestamp(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:
            self._second, self._second_text = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._second_text}.{int(record.msecs):03d}Z"

    def _extra(self, key: str, value: Any) -> Any:
        secret = self._secret_field.get(key)
        if secret is None:
            secret = self._secret_field.setdefault(key, _is_secret_field(key))
        if secret:
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
        out: dict[str, Any] = {"ts": f"{self._second_text}.{int((now - second) * 1000):03d}Z", "level": "info",
                               "logger": logger, "msg": "request"}
        rid = request_id_var.get()
        if rid:
            out["request_id"] = rid
        out["method"] = method
        out["path"] = redact(path)
        out["status"] = status
        out["duration_ms"] = duration_ms
        out["remote"] = remote
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


def log_access(
    logger: logging.Logger, method: str, path: str, status: int, duration_ms: float, remote: str | None
) -> None:
    """One access-log line. When the root handler is ours with the JSON formatter (``configure_logging``),
    the line is built and written directly; otherwise (text format, test capture handlers) it goes
    through the logging machinery as a normal record with the same fields."""
    if logger.disabled or not logger.isEnabledFor(logging.INFO):
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


async def log_flusher(_: Any) -> AsyncIterator[None]:
    """An aiohttp ``cleanup_ctx``: batched lines are written at least every :data:`FLUSH_INTERVAL`
    seconds while the app runs, and at shutdown."""
    async def loop() -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            flush_logs()

    task = asyncio.create_task(loop())
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    flush_logs()


def configure_logging(level: str = "info", *, fmt: str = "json", access: bool = True, stream: Any = None) -> None:
    """Send every logger's output through one handler on ``stream`` (stderr, batched, by default);
    ``access=False`` silences the one-line-per-request access log.

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
    logging.getLogger("gateway.access").disabled = not access


class _TextRedactionFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = ()
        return True
