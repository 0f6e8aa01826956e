"""The store contract: durable JSON documents in namespaces, with revisions, plus append-only logs.

Every backend (SQLite, Redis, PostgreSQL) implements :class:`Store` and passes the same contract suite
(``tests/gateway/store/test_store_contract.py``). Documents are plain JSON objects (``dict``).
Each document carries a revision, an integer that starts at 1 and grows by one on every write;
writers pass ``expect_rev`` to make a write conditional (optimistic concurrency), so concurrent
writers never silently overwrite one another.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from time import perf_counter
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, runtime_checkable

import orjson

from gateway.core.metrics import current

Document = dict[str, Any]


class StoreError(Exception):
    """Base class of store failures."""


class StoreUnavailable(StoreError):
    """The store's backend did not answer (connection refused or reset, a timeout): nothing is known about the
    call's effect. The web edge answers it 503 with ``Retry-After`` (:mod:`gateway.web.errors`); the message never
    reaches an anonymous caller."""


class Conflict(StoreError):
    """A conditional write did not hold: the document exists, is missing, or has another revision."""

    def __init__(self, namespace: str, key: str, expected: int | None, actual: int | None) -> None:
        super().__init__(f"{namespace}/{key}: expected revision {expected}, found {actual}")
        self.namespace = namespace
        self.key = key
        self.expected = expected
        self.actual = actual


S = TypeVar("S")
P = ParamSpec("P")
R = TypeVar("R")
Method = Callable[Concatenate[S, P], Coroutine[Any, Any, R]]


def unavailable_on(
    errors: tuple[type[BaseException], ...], backend: str
) -> Callable[[Method[S, P, R]], Method[S, P, R]]:
    """A decorator for a backend's methods: ``errors`` (what the backend raises when it does not answer) are raised
    as :class:`StoreUnavailable` naming ``backend`` and the error's kind only (never an address)."""

    def decorate(method: Method[S, P, R]) -> Method[S, P, R]:
        operation = method.__name__

        async def guarded(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
            metrics = current()
            started = perf_counter()
            try:
                result = await method(self, *args, **kwargs)
            except errors as exc:
                metrics.store(operation, perf_counter() - started, True)
                raise StoreUnavailable(f"the {backend} store did not answer ({type(exc).__name__})") from exc
            except BaseException:  # a conflict, a cancellation: the backend answered (or was not waited for)
                metrics.store(operation, perf_counter() - started, False)
                raise
            metrics.store(operation, perf_counter() - started, False)
            return result

        functools.update_wrapper(guarded, method)
        return guarded

    return decorate


@dataclass(frozen=True, slots=True)
class Stored:
    """A document as read back: its key, revision and body."""

    key: str
    rev: int
    doc: Document


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One entry of an append-only log; ``seq`` is a backend-assigned, increasing string id."""

    seq: str
    doc: Document


# ``expect_rev`` sentinel values: ABSENT means "create only", ANY means unconditional.
ABSENT = 0
ANY = -1


def check_rev(expect_rev: int) -> None:
    """Every backend's check of a conditional write's ``expect_rev``."""
    if expect_rev < ANY:
        raise ValueError(f"expect_rev must be ANY (-1), ABSENT (0) or a revision, not {expect_rev}")


def check_limit(limit: int) -> None:
    """Every backend's check of a page size."""
    if limit < 1:
        raise ValueError(f"limit must be positive, not {limit}")


SEQ_WIDTH = 20
"""Digits of a zero-padded log sequence id of the backends that number a log's entries with one integer (SQLite
rowids fit in 19; PostgreSQL's bigserial too): string order is then append order."""


def seq_id(seq: int) -> str:
    """The sequence id of entry ``seq`` of an integer-numbered log."""
    return f"{seq:0{SEQ_WIDTH}d}"


def seq_after(after: str | None) -> int:
    """The integer ``after`` names (0: from the start); :class:`ValueError` for text no such backend gave out."""
    try:
        return int(after) if after is not None else 0
    except ValueError:
        raise ValueError(f"not a sequence id of this store: {after!r}") from None


def encode_doc(doc: Document) -> str:
    """A document as the JSON text the SQL backends store."""
    return orjson.dumps(doc).decode()


def prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with ``prefix`` (``None``: no bound)."""
    chars = list(prefix)
    while chars:
        code = ord(chars.pop()) + 1
        if 0xD800 <= code <= 0xDFFF:  # surrogates cannot be stored as UTF-8; skip past them
            code = 0xE000
        if code <= 0x10FFFF:
            return "".join(chars) + chr(code)
    return None


@dataclass(frozen=True, slots=True)
class ScanBounds:
    """The key range of one :meth:`Store.scan` page, for a backend that renders it as a condition on ``key``:
    ``key > low`` (``low_open``) or ``key >= low``; then ``key < high`` when ``high`` is set, else, when
    ``head`` is set, the key starts with ``head`` (a prefix of only U+10FFFF has no upper bound string)."""

    low: str
    low_open: bool
    high: str | None
    head: str | None


def scan_bounds(prefix: str, after: str) -> ScanBounds:
    """The keys starting with ``prefix`` and greater than ``after``, as bounds: every SQL backend's one rule."""
    low, low_open = (after, True) if after >= prefix else (prefix, False)
    if not prefix:
        return ScanBounds(low, low_open, None, None)
    end = prefix_end(prefix)
    return ScanBounds(low, low_open, end, prefix if end is None else None)


@runtime_checkable
class Store(Protocol):
    """Durable, shared document storage. All methods are coroutine functions."""

    async def get(self, namespace: str, key: str) -> Stored | None:
        """The document at ``namespace/key``, or ``None``."""

    async def get_many(self, namespace: str, keys: list[str]) -> dict[str, Stored]:
        """The documents that exist among ``keys`` (missing keys are simply absent)."""

    async def put(self, namespace: str, key: str, doc: Document, *, expect_rev: int = ANY) -> int:
        """Write ``doc``; return the new revision.

        ``expect_rev=ANY`` writes unconditionally, ``ABSENT`` only creates, and a positive value
        writes only if the current revision equals it. Otherwise :class:`Conflict` is raised and
        nothing changes.
        """

    async def delete(self, namespace: str, key: str, *, expect_rev: int = ANY) -> bool:
        """Delete; ``True`` if something was deleted. A failed condition raises :class:`Conflict`."""

    async def scan(
        self, namespace: str, *, prefix: str = "", after: str = "", limit: int = 100
    ) -> list[Stored]:
        """Documents in ascending key order, keys starting with ``prefix`` and greater than ``after``."""

    async def count(self, namespace: str) -> int:
        """How many documents the namespace holds."""

    async def append(self, log: str, doc: Document) -> str:
        """Append to the log named ``log``; return the new entry's sequence id."""

    async def read_log(self, log: str, *, after: str | None = None, limit: int = 100) -> list[LogEntry]:
        """Entries in append order, strictly after sequence id ``after`` (from the start if ``None``)."""

    async def ping(self) -> bool:
        """``True`` when the backend answers."""

    async def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
