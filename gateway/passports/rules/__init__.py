"""The Passport rulebook (``docs/passport-rules.md``) as pure functions over plain data, the clock injected: the
request envelope, Passport and Visa claims, conditions, LinkedIdentities, value templates, grants, member resource
maps, expiry and audit records. Nothing here does I/O or checks a signature."""
