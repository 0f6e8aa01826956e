"""GA4GH Passports: validation and access decisions.

The rules are numbered as in the research rulebook (``passports.md`` §3); errors carry the number of the rule that
failed and never echo token contents.

- ``jws``: strict compact-JWS parsing, header checks, JWK → key conversion and signature verification (rules 6–12).
- ``claims``: request envelope (rules 1–5), Passport claims (rules 18–21), Visa claims (rules 17, 22–31) and the
  expiry/caching arithmetic of §H (rules 41–44). Pure: no network, clock injected.
- ``conditions``, ``linked``, ``grants``, ``resources``: conditions, LinkedIdentities, grant and resource mapping.
- ``keys``, ``trust``: the key-fetching edge and the trust configuration.
"""
