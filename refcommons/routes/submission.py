"""The data dictionary routes of Gen3's submission service (sheepdog), relative to sheepdog's root (Gen3's proxy
serves them under ``/api``, :mod:`refcommons.layout`).

* ``GET /v0/submission/_dictionary`` → ``{"links": [...]}``: one link per node schema, then one to ``_all``
  (sheepdog's listing), each the listing's own path plus ``/<entry>`` (so they stay right under a mount prefix).
* ``GET /v0/submission/_dictionary/_all`` → the whole dictionary: node schemas keyed by node id, ``$ref`` s
  resolved, beside the non-node entries (``_settings``, ``_definitions``).
* ``GET /v0/submission/_dictionary/<entry>`` → that node schema or non-node entry; 404 for anything else.

No credential is needed: sheepdog serves its dictionary to anyone. The data is
:mod:`refcommons.submission.dictionary` (package data, not code).
"""

from __future__ import annotations

from aiohttp import web

from gateway.core.errors import not_found
from gateway.web.openapi import operation
from gateway.web.render import json_response
from refcommons.submission import dictionary

OPERATION_ID_PREFIX = "refcommons.submission.api"
"""Where these operations were first published: operationIds are API (:func:`gateway.web.openapi.operation_id`)."""

routes = web.RouteTableDef()

TAGS = ("submission",)
DICTIONARY = "/v0/submission/_dictionary"
ALL = "_all"


@routes.get(DICTIONARY)
@operation("Links to the data dictionary's node schemas and to the whole dictionary (_all)", tags=TAGS)
async def links(request: web.Request) -> web.Response:
    base = request.path.rstrip("/")
    return json_response({"links": [f"{base}/{name}" for name in (*dictionary.node_ids(), ALL)]})


@routes.get(DICTIONARY + "/{entry}")
@operation("One node schema of the data dictionary, or the whole dictionary (_all)", tags=TAGS,
           responses={404: "no such entry"})
async def get_entry(request: web.Request) -> web.Response:
    name = request.match_info["entry"]
    if name == ALL:
        return json_response(dictionary.document())
    try:
        return json_response(dictionary.entry(name))
    except KeyError:
        raise not_found(f"Entry {name} not in dictionary") from None
