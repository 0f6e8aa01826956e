"""The headers every portal page and asset is served with: a strict Content-Security-Policy and its companions.

The pages carry no inline script, no inline style and no ``style=`` attribute, and load nothing from another host:
scripts and styles come from the gateway's own ``/portal/static/`` (``'self'``), htmx talks to the gateway only
(``connect-src 'self'``), forms post back to the gateway only (``form-action 'self'``), no page can be framed
(``frame-ancestors 'none'``) and ``<base>`` cannot re-point relative URLs (``base-uri 'none'``). With nothing
inline there is no nonce to hand out: the policy is a constant, tested as one.
"""

from __future__ import annotations

POLICY = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
))
"""The Content-Security-Policy of every page."""

PAGE_HEADERS: dict[str, str] = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}
"""Headers of every page: no caching (a page may show what a caller's credentials revealed), no referrer to other
sites (a permalink names an id; ``same-origin`` rather than ``no-referrer``, under which browsers send ``Origin:
null`` with a form and the CSRF check could not tell our own forms), no framing, no sniffing."""

ASSET_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "public, max-age=3600",
}
"""Headers of every static asset (its ``ETag`` is added per file)."""
