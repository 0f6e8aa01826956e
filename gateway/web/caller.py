"""Who is calling: the web edge reads a request's credentials once and hands them to the one Passport admission
(:func:`gateway.passports.gate.admit`), so DRS, cohort search, export and study discovery read them alike.

* :func:`admitted` — the request's :class:`~gateway.passports.gate.Admission`: its validated Passports (body
  ``passports`` or ``Authorization: Bearer <passport>``) and the ``Authorization`` left for members. Passports sent
  while Passports are disabled are ignored; refused ones are an :class:`~gateway.core.errors.ApiError` with the
  engine's status.
* :func:`caller_from_request` — the same, as the :class:`~gateway.access.caller.SearchCaller` search, export and
  discovery pass to every member call.
* :data:`GATE`, :data:`USER_AUTHZ`, :data:`OPEN_AUTHZ` — where the app keeps the Passport gate (set when
  ``passports.enabled``) and the lookups of what a caller may read (:func:`setup_callers`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from gateway.access.caller import PassportHolder, SearchCaller
from gateway.access.open_readable import OpenAuthz
from gateway.access.readable import UserAuthz
from gateway.core.member import Member
from gateway.passports.gate import Admission, PassportGate, admit
from gateway.web.state import GatewayState

GATE = web.AppKey("passport_gate", PassportGate)
USER_AUTHZ = web.AppKey("search_user_authz", UserAuthz)
OPEN_AUTHZ = web.AppKey("search_open_authz", OpenAuthz)


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


def setup_callers(app: web.Application, state: GatewayState, adapter_of: Callable[[Member], Any]) -> None:
    """Keep the ``/user/user`` and anonymous-mapping lookups (:class:`UserAuthz`, :class:`OpenAuthz`, over the
    gateway cache) on ``app`` (once)."""
    if USER_AUTHZ not in app:
        app[USER_AUTHZ] = UserAuthz(state.cache, adapter_of)
    if OPEN_AUTHZ not in app:
        app[OPEN_AUTHZ] = OpenAuthz(state.cache, adapter_of)
