"""The ``aggregate`` configuration section: tiered access, cohort-search deadlines and circuit breaking, study
discovery harvesting, field mappings and exports (plain models; a leaf, like all of :mod:`gateway.settings`).

The features build what they run on from these at start-up: :class:`~gateway.access.tiers.TierPolicy` from
:class:`TierSettings`, the compiled study-record and cohort mappings from :class:`AggregateMappingSettings`
(:mod:`gateway.discovery.mapping.records`, :mod:`gateway.search.mapping.model`, which refuse a mapping that cannot be
used, naming the member and field). The sections of one feature only are in :mod:`gateway.settings.search` and
:mod:`gateway.settings.discovery`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from gateway.settings.discovery import DEFAULT_STUDY_SCHEMA, FieldSpec, HarvestSettings, MemberMappingSettings
from gateway.settings.search import BreakerSettings, CohortIndex, CohortIndexSettings
from gateway.settings.sections import Section

TierName = Literal["private", "regular", "libre"]


class TierSettings(Section):
    level: TierName = Field(
        "regular", description="`private` (accessible data only), `regular` (summary counts of everything, small "
        "inaccessible counts hidden) or `libre` (everything visible)."
    )
    limit: int = Field(50, ge=0, description="`tier_access_limit`: inaccessible parts in (0, limit) are hidden.")
    per_member: dict[str, TierName] = Field({}, description="Member id → its tier, overriding `level`.")


class ExportSettings(Section):
    max_entities: int = Field(1_000_000, ge=1, description="Most entities one export may hold.")
    inline_limit: int = Field(
        10_000, ge=0, description="Exports up to this many entities stream in the response; larger ones run as "
        "background jobs with a status URL (`delivery: auto`)."
    )
    job_ttl: float = Field(3600.0, gt=0, description="Seconds a finished export job and its file are kept.")
    max_running: int = Field(2, ge=1, description="Export jobs one replica runs at once; beyond, new jobs get 429.")
    max_duration: float = Field(
        21_600.0, gt=0, description="Seconds an export job may run before it fails (also bounds how long a file "
        "in the cache outlives its job)."
    )
    heartbeat: float = Field(5.0, gt=0, description="Seconds between a running job's progress updates.")
    lost_after: float = Field(
        30.0, gt=0, description="A running job not heard of for this many seconds is reported failed (its "
        "replica stopped)."
    )
    sweep_interval: float = Field(60.0, gt=0, description="Seconds between sweeps of expired jobs and files.")
    storage: Literal["auto", "cache", "directory"] = Field(
        "auto", description="Where job files live: `cache` (chunks in the shared Redis cache), `directory`, or "
        "`auto` (the cache when it is Redis, else the directory)."
    )
    directory: Path = Field(Path("var/exports"), description="Directory of job files (`storage: directory`).")

    @model_validator(mode="after")
    def _heartbeat_below_lost_after(self) -> ExportSettings:
        if self.lost_after <= self.heartbeat:
            raise ValueError("export.lost_after must be longer than export.heartbeat")
        return self


class AggregateMappingSettings(Section):
    """The common study schema plus every member's study-record mapping and cohort-search mapping."""

    study_schema: dict[str, FieldSpec] = Field(
        default_factory=lambda: dict(DEFAULT_STUDY_SCHEMA), description="The common study schema."
    )
    members: dict[str, MemberMappingSettings] = Field({}, description="Per member id: its field mapping.")
    cohort: dict[str, dict[CohortIndex, CohortIndexSettings]] = Field(
        {}, description="Per member id, per index (`subject`, `file`): cohort-search field renames (`fields`: "
        "gateway field → member field) and value maps (`values`: gateway field → {member value → gateway value})."
    )


class AggregateConfig(Section):
    tier: TierSettings = Field(default_factory=TierSettings, description="Tiered access.")
    deadline: float = Field(10.0, gt=0, description="Seconds a cohort search waits for members, shared by all.")
    breaker: BreakerSettings = Field(default_factory=BreakerSettings, description="Per-member circuit breaking.")
    max_page: int = Field(100, ge=1, le=10_000, description="Most rows one cohort page may hold.")
    harvest: HarvestSettings = Field(default_factory=HarvestSettings, description="Study discovery harvesting.")
    mappings: AggregateMappingSettings = Field(
        default_factory=AggregateMappingSettings, description="Per-member field mappings into the study schema."
    )
    export: ExportSettings = Field(default_factory=ExportSettings, description="Cohort exports.")
