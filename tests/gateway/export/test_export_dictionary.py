"""POST /search/v1/export end to end, the dictionary side: a member that offers its own (different) dictionary gets a
PFB whose schema is that dictionary; members without one (404), with a hostile one (garbage, huge, cyclic, failing,
unfit) or offering different ones get the default, the reason recorded, never a 500; the in-process commons offers
the reference dictionary; the job document records the choice too."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import fastavro
import httpx
import pytest
import pytest_asyncio
from aiohttp import web
from cohort_kit import gen3, start_search_gateway
from export_dictionaries import custom_document, cyclic_document, reference_dictionary
from faults import Server as Fault
from faults import recording_app, serve
from pfb.reader import PFBReader
from servers import Server, running, start_commons, start_gateway

from gateway.export.dictionary import Dictionary
from gateway.export.dictionary_choice import read_offered
from gateway.export.formats.pfb import avro_schema
from gateway.export.member_dictionaries import MAX_DICTIONARY_BYTES
from gateway.members.gen3 import DICTIONARY
from gateway.web.routes.export import PATH
from refcommons.submission.dictionary import document

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.filterwarnings("ignore:SelectableGroups dict interface is deprecated"),
]

PREFIX = "dg.DIC1"
OPEN = {"in": {"project_id": ["DIC1-OPEN"]}}
"""Open data only: what an anonymous caller may export."""
Respond = Callable[[], web.StreamResponse]


def json_of(doc: Any, status: int = 200) -> Respond:
    return lambda: web.json_response(doc, status=status)


def proxy(upstream: str, respond: Respond) -> web.Application:
    """A Gen3 member: the upstream reference commons, except for sheepdog's ``_dictionary/_all``."""
    async def dictionary(request: web.Request) -> web.StreamResponse:
        return respond()

    async def forward(request: web.Request) -> web.Response:
        async with httpx.AsyncClient() as client:
            r = await client.request(request.method, upstream + request.path_qs, content=await request.read(),
                                     headers={k: v for k, v in request.headers.items()
                                              if k.lower() in ("content-type", "authorization")})
        return web.Response(body=r.content, status=r.status_code, content_type="application/json")

    return recording_app([web.get(DICTIONARY, dictionary), web.route("*", "/{tail:.*}", forward)])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def upstream() -> AsyncIterator[Server]:
    server = await start_commons(PREFIX, seed=4, subjects=20)
    yield server
    await server.stop()


@asynccontextmanager
async def federation(upstream: Server, *answers: tuple[str, Respond]) -> AsyncIterator[Server]:
    """A gateway whose members (``(id, dictionary answer)``) all proxy ``upstream``."""
    async with AsyncExitStack() as stack:
        members = []
        for mid, respond in answers:
            member: Fault = await stack.enter_async_context(serve(proxy(upstream.base_url, respond)))
            members.append(gen3(mid, member.url, f"dg.{mid}"))
        gateway = await start_search_gateway(members)
        stack.push_async_callback(gateway.stop)
        yield gateway


def read_pfb(data: bytes) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """(metadata, node schemas, records) through pypfb's reader, and the file's Avro schema through fastavro's."""
    with PFBReader(io.BytesIO(data)) as reader:
        records = list(reader)
        metadata, schema = reader.metadata, reader.schema
    return metadata, schema, records, fastavro.reader(io.BytesIO(data)).writer_schema


async def export(gateway: Server, **body: Any) -> httpx.Response:
    r = await gateway.client.post(PATH, json={"index": "subject", "filter": OPEN, "format": "pfb", **body})
    assert r.status_code == 200, r.text
    return r


def described_with(data: bytes, dictionary: Dictionary) -> dict[str, Any]:
    """Check the PFB is described with ``dictionary`` (schema and Metadata); its ``misc["dictionary"]``."""
    metadata, schema, records, avro = read_pfb(data)
    assert avro == avro_schema(dictionary)
    assert [n["name"] for n in schema] == list(dictionary.names)
    assert [n["name"] for n in metadata["nodes"]] == list(dictionary.names)
    subject = dictionary.node("subject")
    fields = [p.name for p in subject.properties]
    assert [f["name"] for f in next(n for n in schema if n["name"] == "subject")["fields"]] == fields
    subjects = [r["object"] for r in records if r["name"] == "subject"]
    assert subjects and all(set(s) == set(fields) for s in subjects)
    return json.loads(metadata["misc"]["dictionary"])


async def test_a_members_own_dictionary_describes_its_export(upstream):
    async with federation(upstream, ("own", json_of(custom_document()))) as gateway:
        r = await export(gateway)
    mine = read_offered(custom_document())
    assert mine != reference_dictionary()
    record = described_with(r.content, mine)
    assert record == {"source": "member", "members": ["own"],
                      "reason": "every contributing member that offers a dictionary offers this one",
                      "offers": {"own": "offered"}}
    _, _, records, _ = read_pfb(r.content)
    subjects = [rec["object"] for rec in records if rec["name"] == "subject"]
    assert all("bmi" not in s and s["favourite_colour"] is None and s["vital_status"] is None for s in subjects)
    assert {s["sex"] for s in subjects} <= {"female", "male", "unknown"} and any(s["race"] for s in subjects)
    assert not any(rec["name"] == "visit" for rec in records)


async def test_a_job_records_the_dictionary_in_its_document(upstream):
    async with federation(upstream, ("own", json_of(custom_document()))) as gateway:
        r = await gateway.client.post(PATH, json={"index": "subject", "filter": OPEN, "delivery": "job"})
        assert r.status_code == 202, r.text
        status = r.headers["location"]
        for _ in range(200):
            doc = (await gateway.client.get(status)).json()
            if doc["status"] not in ("queued", "running"):
                break
            await asyncio.sleep(0.05)
        assert doc["status"] == "done", doc
        assert doc["dictionary"]["source"] == "member" and doc["dictionary"]["members"] == ["own"]
        data = (await gateway.client.get(doc["file"]["url"])).content
    assert described_with(data, read_offered(custom_document())) == doc["dictionary"]


def unfit() -> dict[str, Any]:
    doc = custom_document()
    doc["subject"]["links"][0]["target_type"] = "visit"
    doc["visit"]["links"] = [{"name": "projects", "target_type": "project", "multiplicity": "many_to_one"}]
    return doc


HUGE = {**document(), "_terms": {"padding": "x" * (MAX_DICTIONARY_BYTES + 10)}}


@pytest.mark.parametrize(("respond", "offer", "reason"), [
    (json_of({"message": "no sheepdog here"}, 404), "none: the member has no submission service",
     "no contributing member offers a data dictionary of its own"),
    (lambda: web.Response(body=b"\x00garbage{", content_type="application/json"), "refused: asking for its "
     "dictionary failed", "sent a malformed answer"),
    (json_of("just a string"), "refused:", "sent a malformed answer"),
    (json_of(HUGE), "refused: its dictionary is larger than", "could not be used"),
    (json_of(cyclic_document()), "refused: link cycle", "could not be used"),
    (json_of({"message": "boom"}, 500), "refused: asking for its dictionary failed", "HTTP 500"),
    (json_of(unfit()), "offered", "cannot describe a subject export: its subject node has no link to project"),
], ids=["404", "garbage", "not-an-object", "huge", "cyclic", "500", "unfit"])
async def test_without_a_usable_dictionary_the_default_describes_the_export(upstream, respond, offer, reason):
    async with federation(upstream, ("m", respond)) as gateway:
        r = await export(gateway)
    record = described_with(r.content, reference_dictionary())
    assert record["source"] == "default" and record["members"] == []
    assert record["offers"]["m"].startswith(offer), record
    assert reason in record["reason"], record


async def test_members_offering_different_dictionaries_get_the_default(upstream):
    async with federation(upstream, ("a", json_of(custom_document())), ("b", json_of(document())),
                          ("c", json_of({}, 404))) as gateway:
        r = await export(gateway)
    record = described_with(r.content, reference_dictionary())
    assert record["source"] == "default"
    assert record["reason"] == "the contributing members offer 2 different dictionaries (a, b)"
    assert record["offers"] == {"a": "offered", "b": "offered", "c": "none: the member has no submission service"}


async def test_the_in_process_commons_offers_the_reference_dictionary(tmp_path):
    gateway = start_gateway(store={"url": f"sqlite:///{tmp_path / 'g.sqlite3'}"},
                            refcommons={"subjects": 10, "data_dir": None}, aggregate={"harvest": {"enabled": False}})
    async with running(gateway) as g:
        r = await g.client.post(PATH, json={"index": "subject", "format": "pfb"})
        assert r.status_code == 200, r.text
    record = described_with(r.content, reference_dictionary())
    assert record["source"] == "member" and len(record["members"]) == 1
    assert record["offers"] == {record["members"][0]: "offered"}
