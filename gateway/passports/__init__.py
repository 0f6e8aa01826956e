"""GA4GH Passports: validation, access decisions, the tokens the gateway issues, and the one JOSE layer for everything
the project signs and verifies. The rules are numbered as in ``docs/passport-rules.md``;
errors carry the number of the rule that failed and never echo token contents.

The package, bottom to top:

- ``jose/``: strict compact-JWS parsing and verification (``jws``), its encodings (``encoding``), keys bound to one
  algorithm (``jwk``), signing keys and signing (``signing``), the errors (``errors``). Pure.
- ``rules/``: the rulebook as pure functions, clock injected: the request envelope (``envelope``), Passport and Visa
  claims (``passport``, ``visa``, over the shared vocabulary of ``claims``), expiry and caching (``expiry``), audit
  records (``audit``), conditions, LinkedIdentities, value templates, grants and member resource maps.
- ``trust/``: who is trusted (``issuers``: the frozen trust configuration) and the key-fetching edge (``keys``).
- ``tokens/``: what the gateway issues: gateway tokens for members (``gateway_token``) and their signing keys
  (``token_keys``).
- ``engine``, ``evaluation``, ``decisions``: from raw Passports to grants, their outcome, and the decision cache.
- ``build``: the runtime objects (trust, grants, resource maps, engine) from the ``passports`` settings.
- ``gate``: the one admission every route calls (:func:`admit`) and the per-object decision at members.
- ``tools/``: developer tooling (``gateway passport``: a development broker, ``inspect``).

This module is the package's public face: the reference commons (``refcommons``) imports only what is listed in
``__all__``, never a submodule. The gateway's own packages may use the submodules.
"""

from gateway.passports.build import build_engine, build_trust, grant_config, resource_map
from gateway.passports.engine import PassportEngine
from gateway.passports.evaluation import Evaluation, PassportRejected
from gateway.passports.gate import bearer_passport
from gateway.passports.jose.errors import JwsError, MalformedJws
from gateway.passports.jose.jwk import ES256, RS256
from gateway.passports.jose.jws import ParsedJws, parse_compact
from gateway.passports.jose.jws import verify as verify_signature
from gateway.passports.jose.signing import SigningKey, private_pem, sign_compact
from gateway.passports.jose.signing import generate as generate_key
from gateway.passports.rules.resources import (
    EXPIRED,
    NO_RESOURCES,
    UNMAPPED,
    Decision,
    MemberResourceMap,
    ResourceTemplate,
)
from gateway.passports.rules.templates import Template
from gateway.passports.tokens.gateway_token import GatewayGrant, GatewayTokenError, SearchGrant
from gateway.passports.tokens.gateway_token import check as check_gateway_token
from gateway.passports.tokens.gateway_token import check_search as check_search_token
from gateway.passports.tokens.gateway_token import covers as gateway_token_covers
from gateway.passports.tokens.gateway_token import issuer_of as gateway_token_issuer
from gateway.passports.tokens.gateway_token import parse as parse_gateway_token
from gateway.passports.trust.issuers import KeySource, url_problem
from gateway.passports.trust.keys import KeyLookupError, KeyStore

__all__ = [
    "ES256",
    "EXPIRED",
    "NO_RESOURCES",
    "RS256",
    "UNMAPPED",
    "Decision",
    "Evaluation",
    "GatewayGrant",
    "GatewayTokenError",
    "JwsError",
    "KeyLookupError",
    "KeySource",
    "KeyStore",
    "MalformedJws",
    "MemberResourceMap",
    "ParsedJws",
    "PassportEngine",
    "PassportRejected",
    "ResourceTemplate",
    "SearchGrant",
    "SigningKey",
    "Template",
    "bearer_passport",
    "build_engine",
    "build_trust",
    "check_gateway_token",
    "check_search_token",
    "gateway_token_covers",
    "gateway_token_issuer",
    "generate_key",
    "grant_config",
    "parse_compact",
    "parse_gateway_token",
    "private_pem",
    "resource_map",
    "sign_compact",
    "url_problem",
    "verify_signature",
]
