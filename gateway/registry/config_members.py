"""Members declared in the configuration file (and the in-process reference commons), loaded at start.

Loading is idempotent: a restart with the same file changes nothing; a changed entry updates its record;
an entry no longer in the file is removed (config members belong to the file). The in-process commons' URL is the
starting instance's own fact: written only when its record is absent, never over another instance's
(:func:`as_stored`). While the gateway runs, :mod:`gateway.registry.keeper` compares the store with the declarations
(:func:`check_registry`, pure) and re-creates missing ones (:func:`reassert_missing`, create-only). Config members are
created ``active``; a later start keeps an administrator's suspension (the audit log says who). A declared
id, prefix or hostname that an admitted (active or suspended) API-joined member holds is a startup error naming
both sides; a *pending* join never blocks a declared member (it claims nothing, and one holding a declared id is
removed, audited as the ``config`` actor's ``remove``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from gateway.core.member import Member, MemberAuth, Status, normalize_hostname, normalize_prefix
from gateway.registry.repository import MemberNotFound, RegistryConflict, RegistryRepository, same_record
from gateway.registry.schemas import check_endpoints, check_member, default_hostnames, normalize_base_url
from gateway.settings.gateway import Settings
from gateway.settings.sections import MemberConfig

log = logging.getLogger("gateway.registry.config_members")

REFCOMMONS_ID = "refcommons"
ACTOR = "config"


@dataclass(frozen=True, slots=True)
class RegistryCheck:
    """How the stored registry compares with this instance's declarations (:func:`check_registry`)."""

    empty: bool
    """No member at all is stored."""
    missing: tuple[str, ...]
    """Declared ids with no record (the store lost them, or someone removed them): they are re-created."""
    diverged: tuple[str, ...]
    """Declared ids whose stored record differs from this instance's declaration (another replica declares them
    otherwise): reported, never rewritten by the periodic re-assert."""

    @property
    def healthy(self) -> bool:
        """Every declared member is there (a divergence is reported, but serves)."""
        return not self.missing

    def text(self) -> str:
        """The ``/_status`` wording: ``ok``, ``empty``, ``missing declared members: a, b`` or ``diverged: a``."""
        if self.empty:
            return "empty"
        if self.missing:
            return "missing declared members: " + ", ".join(self.missing)
        if self.diverged:
            return "diverged: " + ", ".join(self.diverged)
        return "ok"


def check_registry(declared: list[Member], stored: list[Member]) -> RegistryCheck:
    """Compare the declared members with the stored records (pure). A suspension by an admin is no divergence,
    nor is another instance's URL on the in-process commons (:func:`as_stored`)."""
    by_id = {m.id: m for m in stored}
    missing = tuple(m.id for m in declared if m.id not in by_id)
    diverged = tuple(
        m.id for m in declared
        if m.id in by_id and (by_id[m.id].source != "config" or not same_record(by_id[m.id], as_stored(m, by_id[m.id])))
    )
    return RegistryCheck(empty=not stored, missing=missing, diverged=diverged)


async def reassert_missing(repository: RegistryRepository, declared: list[Member]) -> list[str]:
    """Create every declared member that has no record (create-only writes: when another replica or a join got
    there first, its record stays); the ids created here."""
    created: list[str] = []
    for member in declared:
        if await repository.get(member.id) is not None:
            continue
        try:
            await repository.create(member, actor=ACTOR)
        except RegistryConflict as exc:
            if exc.owner != member.id:  # a key is held by someone else meanwhile: the admin decides, we report
                log.warning("declared member not re-created", extra={"member_id": member.id, "reason": str(exc)})
            continue
        created.append(member.id)
    return created


class RegistryStartupError(Exception):
    """The declared members cannot be loaded; the message says which entry and why."""


def _member(cfg: MemberConfig, *, own_host: bool = True) -> Member:
    """``own_host=False``: the member shares the gateway's host (the in-process commons) and so claims no
    DRS hostname of its own: ``drs://<gateway host>/…`` belongs to the gateway."""
    base_url = normalize_base_url(cfg.base_url)
    declared = check_endpoints({str(k): v for k, v in cfg.endpoints.items()})
    default = default_hostnames(cfg.kind, base_url, declared) if own_host else []
    hostnames = [normalize_hostname(h) for h in cfg.hostnames] or default
    auth = MemberAuth(
        cfg.auth.type,
        cfg.auth.token.get_secret_value() if cfg.auth.token else None,
        str(cfg.auth.credentials_file) if cfg.auth.credentials_file else None,
        cfg.auth.audience,
    )
    return check_member(Member(
        id=cfg.id, name=cfg.name, base_url=base_url, kind=cfg.kind,
        prefixes=tuple(dict.fromkeys(normalize_prefix(p) for p in cfg.prefixes)),
        hostnames=tuple(dict.fromkeys(hostnames)), contact=cfg.contact, status=Status.active, auth=auth,
        source="config", declared_endpoints=declared,
    ))


def declared_members(settings: Settings) -> list[Member]:
    """Every member the settings declare, validated (pure); :class:`RegistryStartupError` if one is invalid
    or two declare the same id, prefix or hostname."""
    entries = [(cfg, True) for cfg in settings.registry.members]
    if settings.refcommons.enabled:
        ref = settings.refcommons
        entries.append((MemberConfig(
            id=REFCOMMONS_ID, name=f"Reference commons {ref.prefix}", base_url=settings.base_url + ref.mount,
            kind="reference", prefixes=[ref.prefix], auth={"type": "passthrough"},
        ), False))
    members: list[Member] = []
    seen: dict[str, str] = {}
    for cfg, own_host in entries:
        try:
            member = _member(cfg, own_host=own_host)
        except ValueError as exc:
            raise RegistryStartupError(f"registry.members entry {cfg.id!r}: {exc}") from None
        for key in [f"id {member.id}", *(f"prefix {p}" for p in member.prefixes),
                    *(f"hostname {h}" for h in member.hostnames)]:
            if key in seen:
                raise RegistryStartupError(f"registry.members: {key} is declared by both {seen[key]!r} and "
                                           f"{member.id!r}")
            seen[key] = member.id
        members.append(member)
    return members


async def load_config_members(repository: RegistryRepository, settings: Settings) -> list[Member]:
    """Bring the registry in line with the declared members; the records as stored afterwards."""
    declared = declared_members(settings)
    wanted = {m.id: m for m in declared}
    for current in await repository.members():
        if current.source != "config":
            continue
        if current.id not in wanted:
            await repository.remove(current.id, actor=ACTOR)
            log.info("config member removed (no longer declared)", extra={"member_id": current.id})
        else:  # first let go of keys another declared member now wants, so keys can move in any order
            moving = {k for m in declared if m.id != current.id for k in (*m.prefixes, *m.hostnames)}
            if moving & {*current.prefixes, *current.hostnames}:
                await repository.update(current.id, _letting_go(moving), actor=ACTOR)
    return [await _load_one(repository, member) for member in declared]


def _letting_go(gone: set[str]) -> Callable[[Member], Member]:
    """A change dropping the prefixes and hostnames in ``gone``."""

    def change(m: Member) -> Member:
        return replace(m, prefixes=tuple(p for p in m.prefixes if p not in gone),
                       hostnames=tuple(h for h in m.hostnames if h not in gone))

    return change


def _declared_as(member: Member, status: Status) -> Callable[[Member], Member]:
    """A change making the record the declared ``member`` with ``status``, created when it was."""

    def change(m: Member) -> Member:
        return replace(member, status=status, created=m.created)

    return change


def as_stored(member: Member, current: Member | None) -> Member:
    """The declared ``member`` as this instance may write it over ``current``: the in-process commons' URL is this
    instance's own fact (its public URL), written only when the record is absent, never over another's. What the
    prober found the member to offer is kept while it is where it was."""
    if member.id == REFCOMMONS_ID and current is not None and current.source == "config":
        member = replace(member, base_url=current.base_url)
    if current is not None and current.endpoints == member.endpoints and current.kind == member.kind:
        member = replace(member, capabilities=current.capabilities)
    return member


async def _load_one(repository: RegistryRepository, declared: Member) -> Member:
    for attempt in range(5):  # replicas starting together: whoever loses a race re-reads
        current = await repository.get(declared.id)
        member = as_stored(declared, current)
        try:
            if current is None:
                return await repository.create(member, actor=ACTOR)
            if current.source != "config" and current.status == Status.pending:
                # a pending join asks, it holds nothing: the declared member takes the id (audited)
                with contextlib.suppress(MemberNotFound):  # another replica starting removed it first
                    await repository.remove(member.id, actor=ACTOR)
                log.info("pending join removed: its id is declared in the configuration",
                         extra={"member_id": member.id})
                continue
            if current.source != "config":
                raise RegistryStartupError(
                    f"registry.members entry {member.id!r}: that id is already registered through the API; "
                    "remove it (DELETE /registry/v1/commons/{id}) or declare another id")
            if same_record(current, member) and current.status != Status.pending:
                return current
            status = current.status if current.status == Status.suspended else Status.active
            return await repository.update(member.id, _declared_as(member, status), actor=ACTOR)
        except RegistryConflict as exc:
            if exc.owner is not None and exc.owner != member.id:
                holder = await repository.get(exc.owner)
                origin = "registered through the API" if holder is not None else "being registered"
                raise RegistryStartupError(
                    f"registry.members entry {member.id!r}: {exc} ({origin}); remove one of them") from None
            await asyncio.sleep(0.05 * (attempt + 1))
    raise RegistryStartupError(f"registry.members entry {member.id!r}: could not be loaded (concurrent changes)")
