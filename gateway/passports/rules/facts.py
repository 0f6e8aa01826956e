"""What an access decision needs from one accepted Visa (:class:`VisaFacts`): the vocabulary conditions
(:mod:`gateway.passports.rules.conditions`), LinkedIdentities (:mod:`gateway.passports.rules.linked`) and grants
(:mod:`gateway.passports.rules.grants`) share.

Pure data: the Visa's signature, trust and times have already been checked when one of these is built
(:func:`gateway.passports.evaluation.visa_facts`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class VisaFacts:
    """What the access decision needs from one accepted visa (signature, trust and times already checked).

    ``expires`` is the visa's effective end, ``min(exp, asserted + max_authz_ttl)`` (rule 41), as epoch seconds.
    ``conditions`` is the raw JSON value of ``ga4gh_visa_v1.conditions`` (``None`` when absent). ``extra`` holds
    custom string claims of the visa object, for clauses that name them. ``ras_dbgap_permissions`` is the raw
    top-level claim of a RAS v1.1 visa (``None`` otherwise).
    """

    iss: str
    sub: str
    type: str
    value: str
    source: str
    by: str | None
    asserted: int
    expires: int
    conditions: Any = field(default=None, compare=False, hash=False)
    extra: tuple[tuple[str, str], ...] = ()
    ras_dbgap_permissions: Any = field(default=None, compare=False, hash=False)

    def __init__(self, iss: str, sub: str, type: str, value: str, source: str, by: str | None, asserted: int,
                 expires: int, conditions: Any = None, extra: tuple[tuple[str, str], ...] = (),
                 ras_dbgap_permissions: Any = None) -> None:
        # the generated frozen __init__ pays one object.__setattr__ call per field; one of these is built per
        # accepted Visa of every cold evaluation
        self.__dict__.update(iss=iss, sub=sub, type=type, value=value, source=source, by=by, asserted=asserted,
                             expires=expires, conditions=conditions, extra=extra,
                             ras_dbgap_permissions=ras_dbgap_permissions)

    @property
    def has_conditions(self) -> bool:
        """Anything but an absent or empty ``conditions`` counts as conditions (a malformed value too)."""
        return not (self.conditions is None or (isinstance(self.conditions, (list, tuple)) and not self.conditions))

    @property
    def identity(self) -> tuple[str, str]:
        """The visa identity ``(iss, sub)``."""
        return (self.iss, self.sub)

    def claim(self, name: str) -> str | None:
        """A string claim of the visa object by name, ``None`` when the visa has none."""
        if name == "type":
            return self.type
        if name == "value":
            return self.value
        if name == "source":
            return self.source
        if name == "by":
            return self.by
        for key, val in self.extra:
            if key == name:
                return val
        return None
