"""The k-way merge of the members' listings into one, ordered by ``did`` then member id (pure).

Each listing member is a :class:`Stream`: a buffer of its records in ascending ``did`` order, the ``did`` its next
page starts after, and whether it has no more. The service fills every stream whose buffer ran dry (all at once),
then :func:`head` names the stream holding the smallest record; records are taken one at a time, so a page holds
exactly the smallest records after ``start`` across every member, whichever member answers first or fastest.

Where a page ends: after ``limit`` records, except that records of one ``did`` held by several members are never
split across pages (the next page starts *after* a ``did`` at every member, which would skip the rest of them):
such a group at the end of a full page is moved to the next page, or, when it is the whole page, the page holds
all of it (at most ``limit`` + members - 1 records). With ``page`` (an offset in the merged order) pages are
positional and never adjusted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from gateway.core.errors import MALFORMED, MemberUnavailable, asked
from gateway.core.records import MemberRecord


@dataclass
class Stream:
    member_id: str
    after: str | None
    """The ``did`` the next page of this member starts after (``None``: its first page)."""
    buffer: deque[MemberRecord] = field(default_factory=deque)
    exhausted: bool = False

    @property
    def needs_fetch(self) -> bool:
        return not self.buffer and not self.exhausted

    def take(self, records: Sequence[MemberRecord], asked_for: int) -> None:
        """A page the member answered for ``asked_for`` records after :attr:`after`: checked to be ascending and
        after it (else :class:`MemberUnavailable`: merging it would misorder or repeat records)."""
        previous = self.after
        for record in records:
            if previous is not None and not record.id > previous:
                raise MemberUnavailable(self.member_id, asked("indexd listing", MALFORMED),
                                        detail=f"records not in ascending did order after {previous!r}")
            previous = record.id
        if len(records) > asked_for:
            raise MemberUnavailable(self.member_id, asked("indexd listing", MALFORMED),
                                    detail=f"{len(records)} records for limit {asked_for}")
        self.buffer.extend(records)
        self.after = previous
        self.exhausted = len(records) < asked_for


def head(streams: Sequence[Stream]) -> Stream | None:
    """The stream whose next record comes first (by ``did``, then member id); ``None`` when all are done. Every
    stream must have been filled (none :attr:`~Stream.needs_fetch`)."""
    best: Stream | None = None
    for stream in streams:
        if stream.buffer and (best is None or (stream.buffer[0].id, stream.member_id)
                              < (best.buffer[0].id, best.member_id)):
            best = stream
    return best


def stop_before(taken: Sequence[MemberRecord], want: int, following: MemberRecord, positional: bool) -> bool:
    """Is the page complete before ``following`` (the next record in the merged order)? After ``want`` records,
    unless (without ``page``) ``following`` shares the last record's ``did``."""
    return len(taken) >= want and (positional or not taken or following.id != taken[-1].id)


async def collect(
    streams: Sequence[Stream], want: int, *, positional: bool,
    fill: Callable[[list[Stream]], Awaitable[None]],
) -> tuple[list[MemberRecord], bool]:
    """The first records of the merged order up to where :func:`stop_before` ends the page, and whether more
    follow. ``fill`` fetches the next page of each stream it is given (every one that ran dry, at once)."""
    taken: list[MemberRecord] = []
    while True:
        dry = [s for s in streams if s.needs_fetch]
        if dry:
            await fill(dry)
        first = head(streams)
        if first is None:
            return taken, False
        if stop_before(taken, want, first.buffer[0], positional):
            return taken, True
        taken.append(first.buffer.popleft())


@dataclass(frozen=True)
class Page:
    records: list[MemberRecord]
    more: bool
    """Do records follow this page?"""


def cut(taken: Sequence[MemberRecord], skip: int, limit: int, *, positional: bool, more: bool) -> Page:
    """The page in ``taken`` (the first records of the merged order, as :func:`stop_before` gathered them):
    ``limit`` records after the first ``skip``. Without ``page``, a ``did`` group the limit would split is moved to
    the next page, or kept whole when it is all the page has."""
    records = list(taken[skip:])
    if positional or len(records) <= limit:
        return Page(records[:limit], more)
    group = records[limit - 1].id
    kept = [r for r in records[:limit] if r.id != group]
    return Page(kept or records, True)
