"""The portal's files: its Jinja2 templates and the static assets its pages load, all shipped in this package.

Static assets are a fixed list (:data:`STATIC_FILES`), read once when the app starts and served from memory by
name, so no request path ever reaches the filesystem. The one third-party file is htmx, vendored from its npm
package (:data:`VENDORED`): copied as published, never rebuilt, and served by the gateway itself (no
third-party host; ``make run`` needs no build step).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
STATIC_PATH = "/portal/static"
"""Where the assets are served (``/portal/static/<name>``)."""


@dataclass(frozen=True)
class Vendored:
    """A third-party file: where it came from, its version, licence and the SHA-256 of the file as published."""

    file: str
    package: str
    registry: str
    version: str
    licence: str
    licence_file: str
    sha256: str


HTMX = Vendored(
    file="htmx-2.0.11.min.js", package="htmx.org", registry="npm", version="2.0.11", licence="0BSD",
    licence_file="htmx-LICENSE.txt",
    sha256="d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717",
)
"""``dist/htmx.min.js`` of the npm package ``htmx.org@2.0.11`` (``npm pack htmx.org@2.0.11``), unchanged."""
VENDORED = (HTMX,)

STATIC_FILES: dict[str, str] = {
    HTMX.file: "text/javascript; charset=utf-8",
    HTMX.licence_file: "text/plain; charset=utf-8",
    "portal.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
    "portal.js": "text/javascript; charset=utf-8",
}
"""Every servable asset and its content type."""


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str

    @property
    def version(self) -> str:
        """A short digest of the content: page links carry it (``?v=``) so a changed file is fetched anew."""
        return self.etag.strip('"')[:12]


def load_assets(directory: Path = STATIC_DIR) -> dict[str, Asset]:
    """Every asset of :data:`STATIC_FILES`, read from ``directory``; a vendored file whose digest differs from
    the one recorded is an error (it is to be replaced by the published one, not edited)."""
    out: dict[str, Asset] = {}
    for name, content_type in STATIC_FILES.items():
        body = (directory / name).read_bytes()
        digest = hashlib.sha256(body).hexdigest()
        for vendored in VENDORED:
            if vendored.file == name and vendored.sha256 != digest:
                raise ValueError(f"{name} is not {vendored.package}@{vendored.version} as published")
        out[name] = Asset(body, content_type, f'"{digest[:32]}"')
    return out


def asset_urls(assets: dict[str, Asset]) -> dict[str, str]:
    """``name → /portal/static/<name>?v=<digest>`` for the templates."""
    return {name: f"{STATIC_PATH}/{name}?v={asset.version}" for name, asset in assets.items()}
