"""The cohort search's configuration: per-member circuit breaking and cohort-search field mappings (plain models).

A cohort mapping (``aggregate.mappings.cohort``) is checked here for its shape only (the two indices, names as
strings, unknown keys refused); what it means, and whether it can be translated both ways exactly, is
:mod:`gateway.search.mapping.model`'s, which compiles it when the gateway starts and refuses it there, naming the
member, index and field.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gateway.settings.sections import Section

CohortIndex = Literal["subject", "file"]
"""The indices a cohort question may ask (the members' Guppy indices of subjects and of files)."""


class BreakerSettings(Section):
    failures: int = Field(3, ge=1, description="Consecutive failures that open a member's circuit.")
    cooldown: float = Field(30.0, gt=0, description="Seconds an open circuit skips the member before trying again.")


class CohortIndexSettings(Section):
    """One index of one member: field renames and value maps (see :mod:`gateway.search.mapping.model`)."""

    fields: dict[str, str] = Field({}, description="Gateway field → the member's field (dotted for nested).")
    values: dict[str, dict[str, str]] = Field(
        {}, description="Gateway field → {member value → gateway value}; unlisted values stay as they are."
    )
