"""A member's own DRS object made spec-clean and re-homed on the gateway (pure).

Members send what they send: ``null`` for absent fields, no ``created_time``, indexd checksum names
(``sha256``), access methods with only an ``access_url``, integer access ids, a string ``drs_uri`` in
``contents``, self URIs on their own host. The result is a valid DRS 1.5 object whose ``self_uri``
and bundle ``drs_uri`` point at the gateway, so every follow-up call comes back through it.

Access methods of a type DRS does not define are left out (the rest of the object stays usable).
An access method that came with an ``access_url`` but no ``access_id`` gets one (its type, made unique),
because some clients only follow ``access_id`` (drs-pull, ga4gh-drs-client); the gateway answers
``/access/<that id>`` from the URL the member embedded (:func:`embedded_urls`).
"""

from __future__ import annotations

from typing import Any

from gateway.wire.checksums import drs_checksum_type
from gateway.wire.drs import AccessMethodType, DrsObject
from gateway.wire.indexd import EPOCH, self_uri

KNOWN_TYPES = frozenset(t.value for t in AccessMethodType)

TIME_FALLBACKS = ("created_time", "index_created_time", "updated_time", "index_updated_time")
"""Where ``created_time`` comes from, in order (indexd's DRS view carries the index's own dates)."""


def drop_nulls(value: Any) -> Any:
    """``value`` without ``None`` anywhere (in dicts: the key goes; in lists: the item goes)."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value if v is not None]
    return value


def _methods(methods: Any) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Cleaned access methods, and the embedded ``access_url`` of each method whose id the gateway gave."""
    out: list[dict[str, Any]] = []
    embedded: dict[str, dict[str, Any]] = {}
    if not isinstance(methods, list):
        return out, embedded
    taken = {str(m["access_id"]) for m in methods if isinstance(m, dict) and m.get("access_id") not in (None, "")}
    for method in methods:
        if not isinstance(method, dict) or not isinstance(method.get("type"), str):
            continue
        m = dict(method)
        m["type"] = "https" if m["type"].lower() == "http" else m["type"].lower()
        if m["type"] not in KNOWN_TYPES:  # e.g. a member's own "azure": no DRS client could use it
            continue
        if m.get("access_id") not in (None, ""):
            m["access_id"] = str(m["access_id"])
        elif isinstance(m.get("access_url"), dict) and isinstance(m["access_url"].get("url"), str):
            m["access_id"] = _unique(m["type"], taken)
            embedded[m["access_id"]] = m["access_url"]
        out.append(m)
    return out, embedded


def _unique(base: str, taken: set[str]) -> str:
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    taken.add(name)
    return name


def _contents(items: Any, hostname: str) -> list[dict[str, Any]] | None:
    if not isinstance(items, list):
        return None
    out = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        c: dict[str, Any] = {"name": item["name"]}
        if isinstance(item.get("id"), str) and item["id"]:
            c["id"] = item["id"]
            c["drs_uri"] = [self_uri(hostname, item["id"])]
        elif isinstance(item.get("drs_uri"), (str, list)):
            uris = item["drs_uri"] if isinstance(item["drs_uri"], list) else [item["drs_uri"]]
            c["drs_uri"] = [u for u in uris if isinstance(u, str)]
        nested = _contents(item.get("contents"), hostname)
        if nested is not None:
            c["contents"] = nested
        out.append(c)
    return out


def drs_from_member(doc: dict[str, Any], hostname: str) -> tuple[DrsObject, dict[str, dict[str, Any]]]:
    """The spec-clean object for member DRS object ``doc`` (``self_uri`` on ``hostname``), and the
    ``access_url`` of each access id the gateway assigned. ValueError when it cannot be made valid."""
    d = drop_nulls(doc)
    methods, embedded = _methods(d.get("access_methods"))
    checksums = [
        {"checksum": str(c["checksum"]), "type": drs_checksum_type(str(c["type"]))}
        for c in d.get("checksums") or [] if isinstance(c, dict) and c.get("checksum") and c.get("type")
    ]
    clean = {
        **{k: v for k, v in d.items() if k in DrsObject.model_fields},
        "self_uri": self_uri(hostname, str(d.get("id", ""))),
        "created_time": next((d[k] for k in TIME_FALLBACKS if d.get(k)), EPOCH),
        "checksums": checksums,
        "access_methods": methods or None,
        "contents": _contents(d.get("contents"), hostname),
    }
    return DrsObject.model_validate(clean), embedded


def embedded_urls(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``access_url`` behind each access id the gateway assigns for member DRS object ``doc``."""
    return _methods(drop_nulls(doc).get("access_methods"))[1]
