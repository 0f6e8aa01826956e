"""Explaining a Passport evaluation to a person: the pure half of ``gateway passport inspect``.

:func:`explain` turns the request's Passports and the engine's outcome (an :class:`Evaluation`, or the
:class:`PassportRejected` it raised) into a report dict (the ``--json`` document); :func:`render_text` turns that into
the human-readable text. No I/O and no clock: ``now`` is passed in.

What the engine does not expose is read from the tokens here, by an **unverified** decode
(:func:`gateway.passports.jose.jws.parse_compact`, or the bare payload when the header is refused):

- the Passports' ``iss``/``sub``/``exp``/``jti`` (verified when the Passport was accepted, labelled unverified
  otherwise);
- where each Visa sits in ``ga4gh_passport_v1`` (matched to :class:`VisaReport` by sha256) and how many duplicates
  were dropped;
- an accepted Visa's ``exp`` and ``value`` (its signature verified), and an ignored or unevaluated Visa's
  ``type``/``iss``/``exp``/``value``, always under ``unverified``.

The report never holds a raw token or signature: only claims, hashes and the engine's rules and reasons. Strings
taken from tokens are capped in length, and made printable in the text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from gateway.passports.evaluation import ACCEPTED, IGNORED, Evaluation, PassportRejected, VisaReport
from gateway.passports.jose import jws
from gateway.passports.jose.encoding import b64url_decode, strict_json_object
from gateway.passports.jose.errors import JwsError
from gateway.passports.rules.claims import numeric_date
from gateway.passports.rules.grants import Grant

Outcome = Evaluation | PassportRejected

VALID = "valid"
REJECTED = "rejected"
NOT_EVALUATED = "not evaluated"
KEYS_UNAVAILABLE = 503
MAX_SHOWN_CHARS = 256
REPORT_VERSION = 1
_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


# --- time ---------------------------------------------------------------------------------------------------------


def iso(ts: int) -> str:
    """``ts`` (seconds since the epoch) as ISO 8601 UTC, e.g. ``2027-01-15T08:00:00Z``."""
    try:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return f"@{ts}"


def relative(ts: int, now: int) -> str:
    """``ts`` relative to ``now``: ``in 59m``, ``1h 30m ago``, ``now`` (at most two units)."""
    delta = ts - now
    if delta == 0:
        return "now"
    rest, parts = abs(delta), list[str]()
    for name, size in _UNITS:
        if rest >= size or parts:
            count, rest = divmod(rest, size)
            if count:
                parts.append(f"{count}{name}")
            if len(parts) == 2 or (parts and not count):
                break
    text = " ".join(parts)
    return f"in {text}" if delta > 0 else f"{text} ago"


def when(ts: int, now: int) -> dict[str, Any]:
    return {"epoch": ts, "iso": iso(ts), "relative": relative(ts, now)}


# --- unverified decoding ------------------------------------------------------------------------------------------


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def peek_claims(token: object, max_bytes: int) -> dict[str, Any] | None:
    """The payload of a compact JWS, **unverified**; ``None`` when it cannot be read. A header the strict parser
    refuses (e.g. ``alg: HS256``) does not hide the payload: it is then decoded on its own."""
    if not isinstance(token, str) or len(token) > max_bytes:
        return None
    try:
        return jws.parse_compact(token, max_bytes=max_bytes).payload
    except JwsError:
        pass
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        return strict_json_object(b64url_decode(parts[1], what="payload"), what="payload")
    except JwsError:
        return None


def _shown(value: object) -> str | None:
    """A string claim, capped for display; ``None`` for anything else."""
    if not isinstance(value, str):
        return None
    return value if len(value) <= MAX_SHOWN_CHARS else value[:MAX_SHOWN_CHARS] + "…"


def _visa_claims(payload: Mapping[str, Any] | None, now: int) -> dict[str, Any]:
    """``type``, ``iss``, ``exp`` and ``value`` of a Visa payload, those that are present and well typed."""
    if payload is None:
        return {}
    obj = payload.get("ga4gh_visa_v1")
    obj = obj if isinstance(obj, dict) else {}
    out: dict[str, Any] = {"type": _shown(obj.get("type")), "iss": _shown(payload.get("iss"))}
    exp = numeric_date(payload.get("exp"))
    if exp is not None:
        out["exp"] = when(exp, now)
    out["value"] = _shown(obj.get("value"))
    return {k: v for k, v in out.items() if v is not None}


# --- the report ---------------------------------------------------------------------------------------------------


def _rejection(exc: PassportRejected) -> dict[str, Any]:
    return {"status": exc.status, "rule": exc.rule, "reason": exc.reason}


def _elements(payload: Mapping[str, Any] | None) -> list[object]:
    visas = payload.get("ga4gh_passport_v1") if payload is not None else None
    return list(visas) if isinstance(visas, list) else []


class _Positions:
    """Where each distinct element of ``ga4gh_passport_v1`` first occurs, and how often it repeats."""

    def __init__(self, elements: Sequence[object]) -> None:
        self.first: dict[str, int] = {}
        self.copies: dict[str, int] = {}
        self.non_strings = [i for i, e in enumerate(elements) if not isinstance(e, str)]
        for i, element in enumerate(elements):
            if isinstance(element, str):
                digest = _sha256(element)
                self.first.setdefault(digest, i)
                self.copies[digest] = self.copies.get(digest, 0) + 1

    def index(self, sha256: str | None) -> int | None:
        if sha256 is not None:
            return self.first.get(sha256)
        return self.non_strings.pop(0) if self.non_strings else None


def _visa_entry(index: int | None, status: str, element: object, now: int, positions: _Positions,
                report: VisaReport | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"index": index, "status": status}
    sha = report.sha256 if report is not None else (_sha256(element) if isinstance(element, str) else None)
    if sha is not None:
        entry["sha256"] = sha
        if positions.copies.get(sha, 1) > 1:
            entry["duplicates"] = positions.copies[sha] - 1
    claims = _visa_claims(peek_claims(element, jws.MAX_VISA_BYTES), now)
    if report is not None and report.status == ACCEPTED:
        entry.update(type=report.type, iss=report.iss, jti=report.jti)
        entry.update({k: claims[k] for k in ("exp", "value") if k in claims})  # its signature verified
        return {k: v for k, v in entry.items() if v is not None}
    if report is not None:
        entry.update(rule=report.rule, reason=report.reason)
    if claims:
        entry["unverified"] = claims
    return entry


def _visas(payload: Mapping[str, Any] | None, reports: Sequence[VisaReport] | None,
           now: int) -> list[dict[str, Any]]:
    """One entry per distinct Visa: from the engine's reports when it evaluated them, else not evaluated."""
    elements = _elements(payload)
    positions = _Positions(elements)
    if reports is None:
        seen: set[str] = set()
        entries = []
        for i, element in enumerate(elements):
            if isinstance(element, str):
                digest = _sha256(element)
                if digest in seen:
                    continue
                seen.add(digest)
            entries.append(_visa_entry(i, NOT_EVALUATED, element, now, positions))
        return entries
    entries = []
    for report in reports:
        index = positions.index(report.sha256)
        element = elements[index] if index is not None else None
        entries.append(_visa_entry(index, report.status, element, now, positions, report))
    return sorted(entries, key=lambda e: (e["index"] is None, e["index"] or 0))


def _passport_claims(payload: Mapping[str, Any] | None, now: int) -> dict[str, Any]:
    if payload is None:
        return {}
    out: dict[str, Any] = {"iss": _shown(payload.get("iss")), "sub": _shown(payload.get("sub")),
                           "jti": _shown(payload.get("jti"))}
    exp = numeric_date(payload.get("exp"))
    if exp is not None:
        out["exp"] = when(exp, now)
    return {k: v for k, v in out.items() if v is not None}


def _passport_outcome(index: int, outcome: Outcome, alone: Mapping[int, Outcome] | None
                      ) -> tuple[Outcome, int] | None:
    """The outcome that speaks for Passport ``index`` and its index within it; ``None`` when the request's
    rejection cannot be pinned on one Passport (then it applies to all)."""
    if isinstance(outcome, Evaluation):
        return outcome, index
    if alone is None or index not in alone:
        return None
    if not any(isinstance(o, PassportRejected) for o in alone.values()):
        return None  # each passes alone: the combination is what failed (e.g. rule 5)
    return alone[index], 0


def _passport(index: int, token: str, outcome: Outcome, alone: Mapping[int, Outcome] | None,
              now: int) -> dict[str, Any]:
    payload = peek_claims(token, jws.MAX_PASSPORT_BYTES)
    own = _passport_outcome(index, outcome, alone)
    result = own[0] if own is not None else outcome
    entry: dict[str, Any] = {"index": index, "sha256": _sha256(token)}
    if own is not None and own[0] is not outcome:
        entry["evaluated_alone"] = True
    if isinstance(result, PassportRejected):
        entry.update(status=REJECTED, rejection=_rejection(result))
    else:
        entry["status"] = VALID
    entry["verified"] = isinstance(result, Evaluation)
    if payload is None:
        entry["decode_error"] = "not a readable compact JWS"
    entry.update(_passport_claims(payload, now))
    reports = None
    if own is not None and isinstance(own[0], Evaluation):
        reports = [v for v in own[0].visas if v.passport == own[1]]
    entry["visas"] = _visas(payload, reports, now)
    return entry


def _grant(grant: Grant, now: int) -> dict[str, Any]:
    return {"resource": f"{grant.authority}/{grant.dataset}/{grant.consent}", "authority": grant.authority,
            "dataset": grant.dataset, "consent": grant.consent, "expires": when(grant.expires, now),
            "issuer": grant.issuer, "source": grant.source}


def explain(tokens: Sequence[str], outcome: Outcome, now: int, *,
            alone: Mapping[int, Outcome] | None = None) -> dict[str, Any]:
    """The report of one request's Passports (``tokens``, in request order) evaluated together into ``outcome``
    at ``now``. When the request was rejected, ``alone`` may give each Passport's outcome evaluated by itself (by
    request index): the rejection is then pinned on the Passports that fail alone, and the others show their Visas.
    """
    valid = isinstance(outcome, Evaluation)
    report: dict[str, Any] = {
        "version": REPORT_VERSION,
        "now": when(now, now),
        "valid": valid,
        "rejection": _rejection(outcome) if isinstance(outcome, PassportRejected) else None,
        "passports": [_passport(i, t, outcome, alone, now) for i, t in enumerate(tokens)],
        "grants": [],
        "valid_until": None,
    }
    if isinstance(outcome, Evaluation):
        grants = sorted(outcome.grants, key=lambda g: (g.key, g.expires))
        report["grants"] = [_grant(g, now) for g in grants]
        report["valid_until"] = when(outcome.valid_until, now)
    return report


# --- text ---------------------------------------------------------------------------------------------------------


def printable(value: object) -> str:
    """``value`` as one line of printable text: control characters (terminal escapes) are shown escaped."""
    text = str(value)
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def _at(moment: Mapping[str, Any] | None) -> str:
    return f"{moment['iso']} ({moment['relative']})" if moment else "-"


def _why(rejection: Mapping[str, Any]) -> str:
    rule = f"rule {rejection['rule']}: " if rejection.get("rule") is not None else ""
    return f"{rule}{printable(rejection['reason'])}"


def _headline(report: Mapping[str, Any]) -> list[str]:
    count = len(report["passports"])
    noun = "passport" if count == 1 else "passports"
    if report["valid"]:
        grants = len(report["grants"])
        result = f"VALID ({count} {noun}, {grants} grant{'' if grants == 1 else 's'})"
    else:
        rejection = report["rejection"]
        keys = ", keys unavailable" if rejection["status"] == KEYS_UNAVAILABLE else ""
        result = f"REJECTED (HTTP {rejection['status']}{keys}): {_why(rejection)}"
    lines = [f"Result:       {result}", f"Evaluated at: {report['now']['iso']}"]
    if report["valid_until"] is not None:
        lines.append(f"Valid until:  {_at(report['valid_until'])}")
    return lines


def _visa_lines(visa: Mapping[str, Any]) -> list[str]:
    index = f"[{visa['index']}]" if visa["index"] is not None else "[?]"
    head = f"    {index} {visa['status']}"
    details: list[str] = []
    if visa["status"] == ACCEPTED:
        head += f": {printable(visa.get('type', '?'))}"
        details.append(f"issuer {printable(visa.get('iss', '?'))}")
        if visa.get("jti"):
            details.append(f"jti {printable(visa['jti'])}")
        if visa.get("exp"):
            details.append(f"expires {_at(visa['exp'])}")
    elif visa["status"] == IGNORED:
        rule = f"rule {visa['rule']}: " if visa.get("rule") is not None else ""
        head += f": {rule}{printable(visa.get('reason') or 'no reason given')}"
    if visa.get("duplicates"):
        head += f" (+{visa['duplicates']} duplicate{'s' if visa['duplicates'] > 1 else ''} dropped)"
    lines = [head]
    if details:
        lines.append(f"        {', '.join(details)}")
    if visa["status"] == ACCEPTED and visa.get("value"):
        lines.append(f"        value {printable(visa['value'])}")
    claims = visa.get("unverified")
    if claims:
        parts = [f"{name} {printable(claims[name])}" for name in ("type", "iss") if name in claims]
        if "exp" in claims:
            parts.append(f"exp {_at(claims['exp'])}")
        if "value" in claims:
            parts.append(f"value {printable(claims['value'])}")
        lines.append(f"        unverified: {', '.join(parts)}")
    return lines


def _passport_lines(passport: Mapping[str, Any]) -> list[str]:
    status = VALID if passport["status"] == VALID else f"REJECTED, {_why(passport['rejection'])}"
    if passport.get("evaluated_alone"):
        status += " (evaluated on its own)"
    lines = [f"Passport #{passport['index']}: {status}"]
    if not passport["verified"]:
        lines.append("  (claims below are unverified)")
    if passport.get("decode_error"):
        lines.append(f"  cannot decode: {passport['decode_error']}")
    for label, name in (("issuer", "iss"), ("subject", "sub"), ("expires", "exp"), ("jti", "jti")):
        if name in passport:
            value = _at(passport[name]) if name == "exp" else printable(passport[name])
            lines.append(f"  {label + ':':9} {value}")
    visas = passport["visas"]
    counts: dict[str, int] = {}
    for visa in visas:
        counts[visa["status"]] = counts.get(visa["status"], 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    lines.append(f"  {'visas:':9} {len(visas)} distinct" + (f" ({summary})" if visas else ""))
    for visa in visas:
        lines.extend(_visa_lines(visa))
    return lines


def _grant_lines(report: Mapping[str, Any]) -> list[str]:
    grants = report["grants"]
    if not grants:
        return ["Grants: none" + ("" if report["valid"] else " (the request is rejected)")]
    lines = [f"Grants ({len(grants)}):"]
    for g in grants:
        lines.append(f"  {printable(g['resource'])}  until {_at(g['expires'])}")
        lines.append(f"      issuer {printable(g['issuer'])}, source {printable(g['source'])}")
    return lines


def render_text(report: Mapping[str, Any]) -> str:
    """The report as human-readable text (what ``gateway passport inspect`` prints without ``--json``)."""
    lines = _headline(report)
    for passport in report["passports"]:
        lines += ["", *_passport_lines(passport)]
    lines += ["", *_grant_lines(report)]
    return "\n".join(lines) + "\n"
