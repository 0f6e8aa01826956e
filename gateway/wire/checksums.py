"""Checksum names in the two wire formats the gateway translates between (pure): indexd's ``hashes`` keys and
DRS's checksum ``type``. The one table of them; indexd records, members' DRS objects, the indexd view of a DRS
object, DRSHub's ``hashes`` and the reference commons' indexd all use it.

- indexd names a hash ``md5``, ``sha1``, ``sha256``, ``sha512``, ``crc`` or ``etag``, its value lower-case hex
  of a fixed shape (:data:`INDEXD_HASH_FORMATS`, what indexd's JSON schema accepts).
- DRS takes IANA's hash names where one exists (``sha-256``, ``sha-512``), ``crc32`` for indexd's ``crc``, and
  otherwise the plain names (``md5``, ``sha1``, ``etag``, ``crc32c``, ``trunc512``).

:func:`drs_checksum_type` reads any of these spellings, in any case, as the DRS type; a name it does not know
passes through lower-cased. :func:`indexd_hash_name` goes back for the SHA family only (``sha-256`` →
``sha256``): every other name reads the same in indexd's spelling, or (``crc32``) is passed on as the DRS object
had it, as Gen3's own clients see it.
"""

from __future__ import annotations

import re

INDEXD_HASH_FORMATS: dict[str, re.Pattern[str]] = {
    "md5": re.compile(r"^[0-9a-f]{32}$"),
    "sha1": re.compile(r"^[0-9a-f]{40}$"),
    "sha256": re.compile(r"^[0-9a-f]{64}$"),
    "sha512": re.compile(r"^[0-9a-f]{128}$"),
    "crc": re.compile(r"^[0-9a-f]{8}$"),
    "etag": re.compile(r"^[0-9a-f]{32}(-\d+)?$"),
}
"""The hash names indexd accepts and the lower-case hex shape each value must have."""

DRS_TYPES = {"sha-1": "sha1", "sha256": "sha-256", "sha512": "sha-512", "crc": "crc32"}
"""Lower-cased names that are spelled otherwise as a DRS checksum type (any other name is its own DRS type)."""

INDEXD_NAMES = {"sha-1": "sha1", "sha-256": "sha256", "sha-512": "sha512"}
"""DRS checksum types that indexd spells otherwise (any other type is passed on as it is)."""


def drs_checksum_type(name: str) -> str:
    """The DRS checksum type of a hash name as members spell it (``SHA256`` → ``sha-256``, ``crc`` → ``crc32``)."""
    key = name.strip().lower()
    return DRS_TYPES.get(key, key)


def indexd_hash_name(checksum_type: str) -> str:
    """The indexd ``hashes`` key of a DRS checksum type (``sha-256`` → ``sha256``); any other type as given
    (callers that want lower case lower it first)."""
    return INDEXD_NAMES.get(checksum_type, checksum_type)
