"""Durable document storage behind one contract, with SQLite, Redis and PostgreSQL backends."""

from gateway.store.base import ABSENT, ANY, Conflict, Document, LogEntry, Store, Stored, StoreError, StoreUnavailable
from gateway.store.factory import open_store
from gateway.store.lease import claim_slot

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
    "claim_slot",
    "open_store",
]
