"""Where the reference commons' services are served: the deployment layouts real Gen3 commons come in (pure data).

Every service's routes are written once, relative to that service's own root, as the service serves itself
(indexd's ``/index/{guid}``, ``/_status``; fence's ``/data/download/{guid}``; Arborist's ``/auth/mapping``; MDS's
``/metadata``; Guppy's ``/graphql``; sheepdog's ``/v0/submission/…``). A layout says which *server* (one
``host:port``) serves each group of routes and under which public path prefix (:class:`Mount`), the way a reverse
proxy maps ``location /index/ { proxy_pass http://indexd/; }``:

* :data:`GEN3` (the default): one host, Gen3's reverse-proxy layout (``/index/…`` → indexd, ``/user/…`` → fence,
  ``/guppy/…``, ``/mds/…``, ``/authz/…`` → Arborist's ``/auth/…``, ``/api/…`` → sheepdog, ``/ga4gh/drs/v1/…`` →
  indexd's DRS, with fence answering the ``…/access/…`` calls).
* :data:`INDEXD`: indexd alone at its root, as uc-cdis/indexd serves itself under gunicorn, DRS routes included
  and no fence: an access call answers what indexd answers without fence (:data:`INDEXD_DRS_NO_ACCESS`).
* :data:`SPLIT`: each service on its own server at its own root (indexd with its DRS routes, fence with its DRS
  access routes and the storage the signed URLs point to, Guppy, MDS, Arborist, sheepdog): one commons (one
  dataset, one key set) on several ports.

A leaf: it imports nothing of the commons.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

Layout = Literal["gen3", "indexd", "split"]
GEN3: Layout = "gen3"
INDEXD: Layout = "indexd"
SPLIT: Layout = "split"
LAYOUTS: tuple[Layout, ...] = (GEN3, INDEXD, SPLIT)

Part = Literal[
    "indexd", "indexd-drs", "indexd-drs-no-access", "drs-passports", "fence", "fence-drs", "storage", "wts",
    "arborist", "mds", "guppy", "sheepdog",
]
"""A group of routes one service serves (a service may serve several: indexd its own API and its DRS routes;
fence its own API, GA4GH DRS access and, here, the storage its signed URLs point to). ``drs-passports``: the POST
of one DRS object with Passports, this commons' own (Gen3's layout only; indexd alone answers it 405)."""

INDEXD_DRS_NO_ACCESS: Part = "indexd-drs-no-access"
"""What indexd answers for DRS access calls when no fence serves them (it has no access route: its object route
takes the whole path as an id)."""


@dataclass(frozen=True)
class Mount:
    """``part``'s routes served under ``public`` in place of the service's own ``upstream`` path prefix (a proxy
    rule: ``/authz`` ↔ Arborist's ``/auth``). Every route of ``part`` must start with ``upstream``."""

    part: Part
    public: str = ""
    upstream: str = ""

    def path(self, route_path: str) -> str:
        """The public path of a route the service serves at ``route_path``."""
        if not route_path.startswith(self.upstream):
            raise ValueError(f"{self.part} route {route_path!r} is not under {self.upstream!r}")
        return self.public + route_path[len(self.upstream):]


_INDEXD_ALONE = (Mount(INDEXD_DRS_NO_ACCESS), Mount("indexd-drs"), Mount("indexd"))

SERVERS: dict[Layout, dict[str, tuple[Mount, ...]]] = {
    GEN3: {"commons": (
        Mount("indexd", "/index"), Mount("fence-drs"), Mount("drs-passports"), Mount("indexd-drs"),
        Mount("fence", "/user"),
        Mount("storage"), Mount("wts", "/wts"), Mount("arborist", "/authz", "/auth"), Mount("mds", "/mds"),
        Mount("sheepdog", "/api"), Mount("guppy", "/guppy"),
    )},
    INDEXD: {"indexd": _INDEXD_ALONE},
    SPLIT: {
        "indexd": _INDEXD_ALONE,
        "fence": (Mount("fence-drs"), Mount("fence"), Mount("storage")),
        "guppy": (Mount("guppy"),),
        "mds": (Mount("mds"),),
        "arborist": (Mount("arborist"),),
        "sheepdog": (Mount("sheepdog"),),
    },
}
"""Per layout: each server's name and what it serves, in mount order (where two routes could match one path, the
one mounted first wins: fence's ``…/access/…`` before indexd's ``/objects/{id}``)."""

SERVICE_PARTS: dict[str, Part] = {
    "indexd": "indexd", "drs": "indexd-drs", "fence": "fence", "authz": "arborist", "mds": "mds", "guppy": "guppy",
    "sheepdog": "sheepdog",
}
"""The services a client addresses and the part whose mount gives the service's public URL: ``{indexd}/_status``,
``{drs}/ga4gh/drs/v1/…``, ``{fence}/data/download/{id}``, ``{authz}/mapping`` (Gen3's ``/authz`` is Arborist's
``/auth``), ``{mds}/metadata``, ``{guppy}/graphql``, ``{sheepdog}/v0/submission/…``."""

_SERVICE_SUFFIX = {"authz": "/auth"}
"""Services whose public URL stands for a path under the service's root (Arborist's ``/auth``)."""


def servers(layout: Layout) -> tuple[str, ...]:
    """The names of the servers ``layout`` runs, in order (``split``'s consecutive ports follow it)."""
    return tuple(SERVERS[layout])


def check_layout(layout: str) -> Layout:
    for known in LAYOUTS:
        if layout == known:
            return known
    raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")


def server_of(layout: Layout, part: Part) -> tuple[str, Mount] | None:
    """The server serving ``part`` and its mount, or ``None`` when the layout does not serve it."""
    for name, mounts in SERVERS[layout].items():
        for mount in mounts:
            if mount.part == part:
                return name, mount
    return None


def part_url(layout: Layout, server_urls: dict[str, str], part: Part, path: str = "") -> str | None:
    """The public URL of ``path`` (a path the part's service serves itself, ``""``: its root) on the server
    serving ``part``, or ``None`` when the layout does not serve it. ``server_urls``: each server's public root
    URL (no trailing slash)."""
    found = server_of(layout, part)
    if found is None:
        return None
    name, mount = found
    return server_urls[name] + mount.path(path)


def service_urls(layout: Layout, server_urls: dict[str, str]) -> dict[str, str]:
    """Each service the layout serves and its public URL (see :data:`SERVICE_PARTS`)."""
    out = {}
    for service, part in SERVICE_PARTS.items():
        url = part_url(layout, server_urls, part, _SERVICE_SUFFIX.get(service, ""))
        if url is not None:
            out[service] = url
    return out


def hostname(url: str) -> str:
    """``host[:port]`` of ``url`` (what hostname-based ``drs://`` URIs carry)."""
    return urlsplit(url).netloc
