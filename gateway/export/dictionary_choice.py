"""Which data dictionary describes a PFB export (pure): a member's own, read and vetted, or the default.

**Vetting a member's dictionary** (:func:`read_offered`). A member's answer is untrusted: it becomes a
:class:`~gateway.export.dictionary.Dictionary` only if it is a JSON object the Gen3 reader takes (node schemas
keyed by node id; property shapes outside the reader's subset are skipped, as pypfb skips them), with at least one
node and at most :data:`MAX_NODES` nodes, :data:`MAX_PROPERTIES` properties and :data:`MAX_SYMBOLS` enum symbols,
no link cycle, and an Avro schema fastavro accepts. Anything else is :class:`Refused` with the reason.

**Fitting an export** (:func:`misfit`). An export writes ``program`` and ``project`` entities and one node per row
(``subject`` or ``file``, the index), each related to its parent: a dictionary fits when it has those three nodes,
``project`` links to ``program`` and the index node links to ``project``. Values are fitted to the dictionary's
properties (:func:`~gateway.export.entities.fit_properties`): what it has no property for is left out.

**The rule** (:func:`choose`), over the members that contribute rows to the export:

1. if any of them offers a dictionary that was refused (malformed, too large, cyclic, or it failed to answer), the
   default, with that member's reason;
2. else if none offers one, the default;
3. else if those that offer one do not all offer the same one (equal once read), the default;
4. else if that one does not fit the export, the default;
5. else that dictionary: the members' own. Members that offer none do not stand in the way (their rows are fitted
   to it like everyone's).

The choice is recorded (:meth:`DictionaryChoice.doc`) in the PFB's ``Metadata.misc["dictionary"]`` and the job
document: ``source`` (``member`` or ``default``), ``members`` (whose dictionary it is), ``reason`` and ``offers``
(what each contributing member offered).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.export.dictionary import Dictionary, from_gen3_dictionary
from gateway.export.formats.pfb.schema import avro_schema

MAX_NODES = 1_000
MAX_PROPERTIES = 20_000
"""Properties over all nodes (a large Gen3 dictionary has a few thousand)."""
MAX_SYMBOLS = 100_000
"""Enum symbols over all properties."""
ROOTS = ("program", "project")
"""The nodes every export writes above its rows."""


class Refused(ValueError):
    """A member's dictionary the export does not use; the message says why."""


def read_offered(doc: object) -> Dictionary:
    """A member's dictionary (sheepdog's ``_all`` form), read and vetted; :class:`Refused` with the reason."""
    if not isinstance(doc, Mapping):
        raise Refused(f"not a JSON object of node schemas but {type(doc).__name__}")
    try:
        dictionary = from_gen3_dictionary(doc)
    except ValueError as exc:
        raise Refused(f"not a dictionary the gateway can read: {exc}"[:300]) from None
    nodes = dictionary.nodes
    properties = sum(len(n.properties) for n in nodes)
    symbols = sum(len(p.symbols) for n in nodes for p in n.properties)
    if not nodes:
        raise Refused("no node schemas")
    for what, count, most in (("nodes", len(nodes), MAX_NODES), ("properties", properties, MAX_PROPERTIES),
                              ("enum symbols", symbols, MAX_SYMBOLS)):
        if count > most:
            raise Refused(f"{count} {what}, more than the {most} allowed")
    try:
        dictionary.topological_order()
    except ValueError as exc:
        raise Refused(str(exc)) from None

    import fastavro  # loaded when a member's dictionary is judged, not when the gateway starts

    try:
        fastavro.parse_schema(avro_schema(dictionary))
    except Exception as exc:  # the model's checks should make this unreachable; a member must never cause a 500
        raise Refused(f"no PFB schema can be made of it: {exc}"[:300]) from None
    return dictionary


def misfit(dictionary: Dictionary, index: str) -> str | None:
    """Why ``dictionary`` cannot describe an export of ``index`` rows, or ``None`` when it can."""
    for name in (*ROOTS, index):
        if name not in dictionary:
            return f"it has no {name} node"
    if "program" not in dictionary.node("project").parents:
        return "its project node has no link to program"
    if "project" not in dictionary.node(index).parents:
        return f"its {index} node has no link to project"
    return None


@dataclass(frozen=True)
class Offer:
    """What one member offered: its dictionary (``offered``), nothing (``none``: no such service, or rows that
    are not in its own vocabulary) or one the export does not use (``refused``); ``detail`` says more."""

    status: Literal["offered", "none", "refused"]
    detail: str = ""
    dictionary: Dictionary | None = field(default=None, compare=False)

    @classmethod
    def of(cls, dictionary: Dictionary) -> Offer:
        return cls("offered", "", dictionary)

    def describe(self) -> str:
        return self.status + (f": {self.detail}" if self.detail else "")


@dataclass(frozen=True)
class DictionaryChoice:
    """The dictionary an export is described with, and why."""

    dictionary: Dictionary
    source: Literal["member", "default"]
    members: tuple[str, ...]
    """The members whose own dictionary it is (none for the default)."""
    reason: str
    offers: Mapping[str, str]
    """Per contributing member, what it offered (:meth:`Offer.describe`)."""

    def doc(self) -> dict[str, Any]:
        """The record (PFB ``misc["dictionary"]``, the job document's ``dictionary``)."""
        return {"source": self.source, "members": list(self.members), "reason": self.reason,
                "offers": dict(self.offers)}


def _names(members: list[str]) -> str:
    return ", ".join(members)


def choose(default: Dictionary, offers: Mapping[str, Offer], index: str) -> DictionaryChoice:
    """The dictionary for an export of ``index`` rows from the members of ``offers`` (see the module docstring)."""
    described = {m: o.describe() for m, o in offers.items()}

    def fallback(reason: str) -> DictionaryChoice:
        return DictionaryChoice(default, "default", (), reason, described)

    refused = [m for m, o in offers.items() if o.status == "refused"]
    if refused:
        details = "; ".join(f"{m}: {offers[m].detail}" for m in refused)
        return fallback(f"the dictionary of {_names(refused)} could not be used ({details})")
    offered = {m: o.dictionary for m, o in offers.items() if o.status == "offered" and o.dictionary is not None}
    if not offered:
        return fallback("no contributing member offers a data dictionary of its own")
    distinct: list[Dictionary] = []
    for d in offered.values():
        if d not in distinct:
            distinct.append(d)
    if len(distinct) > 1:
        return fallback(f"the contributing members offer {len(distinct)} different dictionaries "
                        f"({_names(list(offered))})")
    (dictionary,) = distinct
    members = list(offered)
    problem = misfit(dictionary, index)
    if problem is not None:
        return fallback(f"the dictionary of {_names(members)} cannot describe a {index} export: {problem}")
    reason = "every contributing member that offers a dictionary offers this one"
    without = [m for m in offers if m not in offered]
    if without:
        reason += f" ({_names(without)} offer none)"
    return DictionaryChoice(dictionary, "member", tuple(members), reason, described)
