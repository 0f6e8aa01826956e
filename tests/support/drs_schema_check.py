"""DRS 1.2.0 output checks for the gateway's tests: an inline description of what the drs-compliance-suite's
closed v1.2.0 schemas allow (always available), and validators over the suite's real schema files, found
in a venv where the suite is installed (``.venv-compliance``, see tests/refcommons/test_drs_compliance_suite.py,
or the interop venv), when there is one. Nothing of the schemas is copied here."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

# What the drs-compliance-suite's closed DRS 1.2.0 schemas allow (clients.md §1): access methods, checksums,
# access URLs and contents items are closed; the object itself is open but has five required keys.
OBJECT_REQUIRED = {"id", "self_uri", "size", "created_time", "checksums"}
METHOD_KEYS = {"type", "access_url", "access_id", "region"}
METHOD_TYPES = {"s3", "gs", "ftp", "gsiftp", "globus", "htsget", "https", "file"}
CONTENTS_KEYS = {"name", "id", "drs_uri", "contents"}
STRING_FIELDS = ("id", "name", "self_uri", "created_time", "updated_time", "version", "mime_type", "description")


def violations_1_2(obj: dict[str, Any]) -> list[str]:
    """Why ``obj`` would fail the DRS 1.2.0 object schema of the compliance suite (empty: it passes)."""
    out = [f"missing {k}" for k in sorted(OBJECT_REQUIRED - set(obj))]
    out += [f"{k} is not a string" for k in STRING_FIELDS if k in obj and not isinstance(obj[k], str)]
    if not isinstance(obj.get("size"), int) or isinstance(obj.get("size"), bool):
        out.append("size is not an integer")
    checksums = obj.get("checksums")
    if not isinstance(checksums, list) or not checksums:
        out.append("checksums empty")
    else:
        out += [f"checksum {c!r}" for c in checksums
                if set(c) != {"checksum", "type"} or not all(isinstance(v, str) for v in c.values())]
    for m in obj.get("access_methods", []):
        if set(m) - METHOD_KEYS or m.get("type") not in METHOD_TYPES:
            out.append(f"access method {m!r}")
        if "access_url" not in m and "access_id" not in m:
            out.append(f"access method without url or id {m!r}")
        if "access_id" in m and not isinstance(m["access_id"], str):
            out.append(f"access_id {m['access_id']!r}")
        if "region" in m and not isinstance(m["region"], str):
            out.append(f"region {m['region']!r}")
        url = m.get("access_url")
        if url is not None and (not isinstance(url, dict) or set(url) - {"url", "headers"}
                                or not isinstance(url.get("url"), str)
                                or not all(isinstance(h, str) for h in url.get("headers", []))):
            out.append(f"access_url {url!r}")

    def contents(items: Any) -> None:
        for c in items:
            if set(c) - CONTENTS_KEYS or not isinstance(c.get("name"), str):
                out.append(f"contents item {c!r}")
            uris = c.get("drs_uri", [])
            if not (isinstance(uris, list) and all(isinstance(u, str) for u in uris)):
                out.append(f"drs_uri {c['drs_uri']!r}")
            contents(c.get("contents", []))

    contents(obj.get("contents", []))
    for key in ("aliases",):
        if key in obj and not (isinstance(obj[key], list) and all(isinstance(a, str) for a in obj[key])):
            out.append(f"{key} {obj[key]!r}")
    return out


SERVICE_INFO_KEYS = {"id", "name", "type", "description", "organization", "contactUrl", "documentationUrl",
                     "createdAt", "updatedAt", "environment", "version"}
SERVICE_INFO_REQUIRED = {"id", "name", "type", "organization", "version"}


def service_info_violations_1_2(info: dict[str, Any]) -> list[str]:
    """Why ``info`` would fail the suite's (closed) service-info schema."""
    out = [f"unexpected {k}" for k in sorted(set(info) - SERVICE_INFO_KEYS)]
    out += [f"missing {k}" for k in sorted(SERVICE_INFO_REQUIRED - set(info))]
    kind = info.get("type")
    if not isinstance(kind, dict) or set(kind) != {"group", "artifact", "version"}:
        out.append(f"type {kind!r}")
    org = info.get("organization")
    if not isinstance(org, dict) or not {"name", "url"} <= set(org):
        out.append(f"organization {org!r}")
    out += [f"{k} is not a string" for k in SERVICE_INFO_KEYS - {"type", "organization"}
            if k in info and not isinstance(info[k], str)]
    return out


def access_url_violations_1_2(doc: dict[str, Any]) -> list[str]:
    """Why ``doc`` would fail the suite's (closed) access URL schema."""
    out = [f"unexpected {k}" for k in sorted(set(doc) - {"url", "headers"})]
    if not isinstance(doc.get("url"), str):
        out.append("url")
    if "headers" in doc and not (isinstance(doc["headers"], list) and all(isinstance(h, str) for h in doc["headers"])):
        out.append("headers")
    return out


def nulls(value: Any, path: str = "$") -> list[str]:
    if value is None:
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in nulls(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in nulls(v, f"{path}[{i}]")]
    return []


# --- the suite's own schema files -------------------------------------------------------------------------

OBJECT_SCHEMA = "v1.2.0/drs_object.json"
BUNDLE_SCHEMA = "v1.2.0/drs_bundle.json"
ACCESS_SCHEMA = "v1.2.0/access_url.json"
ERROR_SCHEMA = "v1.2.0/error.json"
SERVICE_INFO_SCHEMA = "service_info.json"


def _venvs() -> list[Path]:
    compliance = Path(os.environ.get("GATEWAY_COMPLIANCE_DIR") or REPO / ".venv-compliance")
    return [compliance / "venv", REPO / ".venv-interop" / "drs-compliance-suite"]


_found: list[Path] = []


def compliance_schema_dir() -> Path | None:
    """``compliance_suite/schemas`` of an installed drs-compliance-suite, or ``None``. Only a found directory is
    remembered: a module asking before another one built the suite's venv must not hide it from those after."""
    if _found:
        return _found[0]
    for venv in _venvs():
        for found in sorted(venv.glob("lib/python3*/site-packages/compliance_suite/schemas")):
            if (found / OBJECT_SCHEMA).is_file() and (found / SERVICE_INFO_SCHEMA).is_file():
                _found.append(found)
                return found
    return None


@cache
def validator(name: str) -> Any:
    """A draft-07 validator for the suite's schema ``name`` (e.g. ``v1.2.0/drs_object.json``), its relative
    ``$ref``s resolved among the files next to it, as the suite resolves them."""
    from jsonschema import Draft7Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT7

    root = compliance_schema_dir()
    assert root is not None
    path = root / name
    registry = Registry().with_resources(
        (p.name, Resource.from_contents(json.loads(p.read_text()), default_specification=DRAFT7))
        for p in path.parent.glob("*.json")
    )
    return Draft7Validator(json.loads(path.read_text()), registry=registry)


def schema_errors(name: str, instance: Any) -> list[str]:
    """Why the suite's schema ``name`` rejects ``instance`` (empty: it accepts it)."""
    return [f"{'/'.join(map(str, e.absolute_path)) or '$'}: {e.message}"
            for e in validator(name).iter_errors(instance)]
