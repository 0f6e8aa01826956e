"""PFB export figures, each against a baseline measured in the same run.

1. Throughput: ``--entities`` realistic reference-commons entities (3 programs, 3 projects and their project-level
   files, then subjects, each with one or two samples and four files per sample, values drawn from
   ``refcommons.synth``'s vocabularies) through :func:`gateway.export.formats.pfb.write_pfb` to a null sink, vs
   ``fastavro.writer`` writing the very same Avro records, already built (Metadata first, symbols escaped,
   relations), with the same schema to a null sink: entities/s both ways and the ratio. Both files must come out
   the same size. Best of ``--repeat`` runs; the export is also timed straight from the entity generator.
2. Memory: peak RSS growth (``ru_maxrss``) and the tracemalloc peak while ``write_pfb`` consumes a *generator* of
   the entities, measured first, before anything large is allocated, next to the tracemalloc size of the same
   records held in a list.

    python bench/bench_pfb.py [--entities 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import sys
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from typing import Any

import fastavro

from gateway.export.dictionary import Dictionary, from_gen3_dictionary
from gateway.export.formats.pfb import Entity, avro_schema, encode_symbol, metadata_object, write_pfb
from refcommons.submission.dictionary import document as refcommons_dictionary
from refcommons.synth import OPEN_PHENOTYPES, POPULATIONS, RACES, SAMPLE_TYPES, SEXES, SMOKING, TUMOR_TISSUES

PREFIX = "dg.BNCH"
MISC = {"export": "bench", "members": {"bench": "ok"}}


class NullSink:
    """A write-only file object that counts bytes."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def seekable(self) -> bool:
        return False


def pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


def entities(n: int, seed: int = 1) -> Iterator[Entity]:
    """``n`` entities shaped like a reference commons' (parents first), produced lazily."""
    rng = random.Random(seed)
    left = n

    def new_id() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    def file(project: tuple[str, str, str], name: str, fmt: str, category: str, data_type: str,
             parents: tuple[tuple[str, str], ...]) -> Entity:
        guid = f"{PREFIX}/{new_id()}"
        return Entity("file", guid, {
            "submitter_id": name, "project_id": project[1], "object_id": guid, "file_name": name,
            "file_size": rng.randrange(1_000, 40_000_000_000), "md5sum": f"{rng.getrandbits(128):032x}",
            "sha256": f"{rng.getrandbits(256):064x}", "data_category": category, "data_type": data_type,
            "data_format": fmt, "authz": [project[2]], "created_datetime": f"2024-{rng.randrange(1, 13):02d}-"
            f"{rng.randrange(1, 29):02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z",
        }, parents)

    programs = [("BNCH", None), ("phs001234", "phs001234.v1.p1"), ("phs005678", "phs005678.v1.p1")]
    projects: list[tuple[str, str, str]] = []  # (entity id, project_id, authz)
    queue: list[Entity] = []
    for (program, accession), code in zip(programs, ("OPEN", "HEART", "METAB"), strict=True):
        program_id, project_id = new_id(), new_id()
        queue.append(Entity("program", program_id, {"name": program, "dbgap_accession_number": accession}))
        gen3_project = f"{program}-{code}"
        authz = f"/programs/{program}/projects/{code}" if accession is None else f"/programs/{program}.c1"
        queue.append(Entity("project", project_id, {
            "code": code, "name": f"{code.title()} cohort", "project_id": gen3_project,
            "description": f"Synthetic cohort {gen3_project}.", "dbgap_accession_number": accession,
            "availability_type": "Open" if accession is None else "Restricted",
            "consent_codes": None if accession is None else ["c1", "c2"],
        }, [("program", program_id)]))
        projects.append((project_id, gen3_project, authz))
    for project in projects:
        for kind in ("phenotypes", "data_dictionary"):
            queue.append(file(project, f"{project[1]}.{kind}.tsv", "TSV", "Clinical", "Phenotype",
                              (("project", project[0]),)))
    index = 0
    while True:
        for entity in queue:
            if left == 0:
                return
            left -= 1
            yield entity
        queue.clear()
        index += 1
        project = projects[rng.choices(range(3), weights=(40, 30, 30))[0]]
        population = pick(rng, POPULATIONS)
        subject_id = new_id()
        submitter = f"{project[1]}-S{index:06d}"
        queue.append(Entity("subject", subject_id, {
            "submitter_id": submitter, "project_id": project[1],
            "consent": None if project[1].endswith("OPEN") else rng.choice(("c1", "c2")),
            "sex": pick(rng, SEXES), "population": population, "race": pick(rng, RACES[population]),
            "ethnicity": rng.choice(("Hispanic or Latino", "Not Hispanic or Latino", "not reported")),
            "age_at_enrollment": max(18, min(90, round(rng.gauss(52, 15)))),
            "bmi": round(max(15.0, min(55.0, rng.gauss(27.0, 5.0))), 1),
            "phenotype": pick(rng, OPEN_PHENOTYPES), "smoking_status": pick(rng, SMOKING),
        }, [("project", project[0])]))
        for j in range(1, (2 if rng.random() < 0.25 else 1) + 1):
            sample_id = new_id()
            sample_type = pick(rng, SAMPLE_TYPES)
            base = f"{submitter}-SM{j}"
            queue.append(Entity("sample", sample_id, {
                "submitter_id": base, "project_id": project[1], "sample_type": sample_type,
                "tissue": {"Blood Derived Normal": "Blood", "Saliva": "Saliva"}.get(sample_type)
                or rng.choice(TUMOR_TISSUES),
            }, [("subject", subject_id)]))
            parent = ("sample", sample_id), ("project", project[0])
            reads, variants = ("Sequencing Reads", "Aligned Reads"), ("Variant Calling", "Simple Nucleotide Variation")
            queue.append(file(project, f"{base}.cram", "CRAM", *reads, parent))
            queue.append(file(project, f"{base}.cram.crai", "CRAI", *reads, parent))
            queue.append(file(project, f"{base}.vcf", "VCF", *variants, parent))
            queue.append(file(project, f"{base}.vcf.tbi", "TBI", *variants, parent))


def avro_records(dictionary: Dictionary, items: list[Entity]) -> list[dict[str, Any]]:
    """The Avro records a PFB of ``items`` consists of, built up front (the baseline's input)."""
    enums = {node.name: {p.name for p in node.properties if p.is_enum} for node in dictionary.nodes}
    out: list[dict[str, Any]] = [{"id": None, "name": "Metadata",
                                  "object": ("Metadata", metadata_object(dictionary, MISC)), "relations": []}]
    for e in items:
        obj = dict(e.properties)
        for name in enums[e.node]:
            value = obj.get(name)
            if isinstance(value, str):
                obj[name] = encode_symbol(value)
            elif isinstance(value, list):
                obj[name] = [encode_symbol(v) for v in value]
        out.append({"id": e.id, "name": e.node, "object": (e.node, obj),
                    "relations": [{"dst_id": i, "dst_name": n} for n, i in e.relations]})
    return out


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class PeakRSS:
    """Peak RSS growth over a block of code. On Linux the kernel's high-water mark is reset first (``5`` into
    ``/proc/self/clear_refs``) and growth is ``VmHWM`` after minus ``VmRSS`` before, so an earlier, higher peak
    (imports, the warm-up) cannot hide it; elsewhere, the growth of ``getrusage``'s ``ru_maxrss``."""

    def __enter__(self) -> PeakRSS:
        self.exact = False
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            before = _status_kib("VmRSS")
            self.exact = before is not None
        except OSError:
            before = None
        self.before = before * 1024 if before is not None else self.maxrss()
        return self

    def __exit__(self, *exc: object) -> None:
        peak = _status_kib("VmHWM") if self.exact else None
        self.growth = (peak * 1024 if peak is not None else self.maxrss()) - self.before

    @staticmethod
    def maxrss() -> int:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss if sys.platform == "darwin" else rss * 1024


def mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    n = args.entities
    dictionary = from_gen3_dictionary(refcommons_dictionary(), strict=True)
    schema = fastavro.parse_schema(avro_schema(dictionary))
    write_pfb(NullSink(), dictionary, entities(1000), misc=MISC)  # warm-up: imports, caches
    gc.collect()

    # 2. memory first, while the heap is still small: RSS growth while streaming from a generator
    sink = NullSink()
    with PeakRSS() as rss:
        t = time.perf_counter()
        written = write_pfb(sink, dictionary, entities(n), misc=MISC)
        streamed = time.perf_counter() - t
    assert written == n, written
    tracemalloc.start()
    write_pfb(NullSink(), dictionary, entities(n), misc=MISC)
    stream_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    # 1. throughput over prebuilt inputs
    items = list(entities(n))
    tracemalloc.start()
    records = avro_records(dictionary, items)
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    ours, base = [], []
    for _ in range(args.repeat):
        gc.collect()
        ours_sink = NullSink()
        t = time.perf_counter()
        write_pfb(ours_sink, dictionary, items, misc=MISC)
        ours.append(time.perf_counter() - t)
        gc.collect()
        base_sink = NullSink()
        t = time.perf_counter()
        fastavro.writer(base_sink, schema, records, sync_interval=64 * 1024)
        base.append(time.perf_counter() - t)
    assert ours_sink.size == base_sink.size == sink.size, (ours_sink.size, base_sink.size, sink.size)

    o, b = min(ours), min(base)
    print(f"PFB of {n:,} entities ({sink.size / n:.0f} bytes each, {mib(sink.size)}), best of {args.repeat}:")
    print(f"1. write_pfb {n / o:10,.0f} entities/s | fastavro.writer, prebuilt records {n / b:10,.0f} entities/s | "
          f"ratio {o / b:.2f}x the baseline's time")
    print(f"   write_pfb fed by the entity generator (includes making the entities): {n / streamed:,.0f} entities/s")
    how = "VmHWM" if rss.exact else "ru_maxrss"
    print(f"2. streaming export: peak RSS growth {mib(rss.growth)} ({how}), tracemalloc peak {mib(stream_peak)} | "
          f"the same records held in a list: {mib(held)}")


if __name__ == "__main__":
    main()
