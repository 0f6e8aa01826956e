"""Who is calling: the web edge reads a request's credentials once and hands them to the one Passport admission
(:func:`gateway.passports.gate.admit`), so DRS, cohort search, export and study discovery read them alike.

* :func:`admitted` — the request's :class:`~gateway.passports.gate.Admission`: its validated Passports (body
  ``passports`` or ``Authorization: Bearer <passport>``) and the ``Authorization`` left for members. Passports sent
  while Passports are disabled are ignored; refused ones are an :class:`~gateway.core.errors.ApiError` with the
  engine's status.
* :func:`caller_from_request` — the same, as the :class:`~gateway.access.caller.SearchCaller` search, export and
  discovery pass to every member call.
* :func:`client_address` — who is calling, for per-client budgets (the join rate limit, the fan-out budget).

The Passport gate (set when ``passports.enabled``) and the lookups of what a caller may read are on the app under
:data:`~gateway.web.keys.GATE`, :data:`~gateway.web.keys.USER_AUTHZ` and :data:`~gateway.web.keys.OPEN_AUTHZ`
(:func:`gateway.app.features.setup_callers`).
"""

from __future__ import annotations

from aiohttp import web

from gateway.access.caller import PassportHolder, SearchCaller
from gateway.passports.gate import Admission, PassportGate, admit
from gateway.web.keys import GATE, OPEN_AUTHZ, USER_AUTHZ


def client_address(request: web.Request) -> str:
    """The client's address as the web edge sees it (the peer of the connection, or what a trusted proxy set as
    ``request.remote``); what per-client limits count against."""
    return request.remote or "unknown"


def passport_gate(request: web.Request) -> PassportGate | None:
    """The app's Passport gate; ``None`` when Passports are disabled."""
    return request.config_dict.get(GATE)


async def admitted(request: web.Request, passports: list[str] | None, gate: PassportGate | None) -> Admission:
    """What the request's Passports (``passports``: its body's, ``None`` when absent) and ``Authorization`` header
    mean under ``gate`` (``None``: Passports disabled); see :func:`gateway.passports.gate.admit`."""
    return await admit(gate, request.headers.get("Authorization"), passports)


async def caller_from_request(request: web.Request, body_passports: list[str] | None = None) -> SearchCaller:
    """The request's :class:`SearchCaller`: its ``Authorization`` header, or its Passports (``body_passports``, or a
    bearer Passport) validated once (:func:`admitted`)."""
    gate = passport_gate(request)
    admission = await admitted(request, body_passports, gate)
    holder = PassportHolder(gate, admission.caller) if gate is not None and admission.caller is not None else None
    return SearchCaller(admission.authorization, holder, request.config_dict.get(USER_AUTHZ),
                        request.config_dict.get(OPEN_AUTHZ))

