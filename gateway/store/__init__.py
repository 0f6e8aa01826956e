"""Durable document storage behind one contract, with SQLite, Redis and PostgreSQL backends."""

from gateway.store.base import ABSENT, ANY, Conflict, Document, LogEntry, Store, Stored, StoreError, StoreUnavailable
from gateway.store.factory import open_store

__all__ = [
    "ABSENT",
    "ANY",
    "Conflict",
    "Document",
    "LogEntry",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "Stored",
    "open_store",
]
