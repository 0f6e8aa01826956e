"""The bytes of every synthetic file: deterministic from a seed, a format and the file name.

:func:`render` is the one source of truth: the generator (:mod:`refcommons.synth`) hashes its output
to fill ``size``/``md5``/``sha256``, and :func:`file_bytes` renders the same bytes again for serving,
so the checksums always match what a client downloads. Content is plausible, not valid genomics:
a CRAM magic and EOF container around random payload, BGZF-looking indexes, real VCF and TSV text.
"""

from __future__ import annotations

import random

from refcommons.model import DataFile

KIB = 1024

CRAM_MAGIC = b"CRAM\x03\x00"
CRAM_EOF = bytes.fromhex("0f000000ffffffff0fe0454f4600000000010005bdd94f00010006060100010001" "00ee63014b")
"""The fixed 38-byte end-of-file container every CRAM 3.0 file ends with."""
BGZF_HEADER = bytes.fromhex("1f8b08040000000000ff0600424302")
"""A gzip member header with the BGZF extra field (what ``.crai``/``.tbi`` files start with)."""

CONTIGS = (("chr1", 248_956_422), ("chr2", 242_193_529), ("chr7", 159_345_973), ("chr17", 83_257_441))
BASES = "ACGT"
SEXES = ("female", "male")
POPULATIONS = ("AFR", "AMR", "EAS", "EUR", "SAS")
PHENOTYPES = ("control", "control", "control", "hypertension", "type 2 diabetes", "asthma")
SMOKING = ("never", "never", "former", "current")


def render(seed: int, data_format: str, file_name: str) -> bytes:
    """The bytes of a file of ``data_format`` (``CRAM``, ``CRAI``, ``VCF``, ``TBI``, ``TSV``…)."""
    rng = random.Random(seed)
    fmt = data_format.upper()
    if fmt == "CRAM":
        return _cram(rng, file_name)
    if fmt in ("CRAI", "TBI"):
        size = rng.randint(768, 1536)
        return BGZF_HEADER + rng.randbytes(size - len(BGZF_HEADER))
    if fmt == "VCF":
        return _vcf(rng, file_name)
    if fmt == "TSV":
        return _tsv(rng, file_name)
    return rng.randbytes(rng.randint(1 * KIB, 8 * KIB))


def file_bytes(file: DataFile) -> bytes:
    """The content of a dataset file; its length, md5 and sha256 are the file's recorded ones."""
    return render(file.content_seed, file.data_format, file.file_name)


def _cram(rng: random.Random, file_name: str) -> bytes:
    size = rng.randint(4 * KIB, 48 * KIB)
    file_id = file_name.encode()[:20].ljust(20, b"\x00")
    head = CRAM_MAGIC + file_id
    return head + rng.randbytes(size - len(head) - len(CRAM_EOF)) + CRAM_EOF


def _sample_name(file_name: str) -> str:
    return file_name.split(".", 1)[0]


def _vcf(rng: random.Random, file_name: str) -> bytes:
    target = rng.randint(2 * KIB, 16 * KIB)
    gvcf = file_name.endswith(".g.vcf")
    lines = [
        "##fileformat=VCFv4.2",
        f"##fileDate=2024{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}",
        "##source=refcommons-synth",
        "##reference=GRCh38",
        *(f"##contig=<ID={name},length={length}>" for name, length in CONTIGS),
        '##INFO=<ID=DP,Number=1,Type=Integer,Description="Total depth">',
        '##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth">',
        '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype quality">',
    ]
    if gvcf:
        lines.append('##ALT=<ID=NON_REF,Description="Any possible alternative allele">')
    lines.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + _sample_name(file_name))
    text = "\n".join(lines) + "\n"
    size = len(text)
    records: list[str] = []
    contig = 0
    pos = 10_000 + rng.getrandbits(16)
    genotypes = ("0/1", "0/1", "1/1", "0/0")
    while size < target:
        bits = rng.getrandbits(64)
        pos += 50 + (bits & 0xFFFF)
        if pos >= CONTIGS[contig][1] or ((bits >> 60) == 0 and contig < len(CONTIGS) - 1):
            contig = min(contig + 1, len(CONTIGS) - 1)
            pos = 10_000 + ((bits >> 16) & 0xFFFF)
        ref = BASES[(bits >> 32) & 3]
        alt = BASES[((bits >> 32) + 1 + ((bits >> 34) & 1)) & 3]
        alt_field = f"{alt},<NON_REF>" if gvcf else alt
        dp = 8 + ((bits >> 36) & 63)
        af = ((bits >> 42) & 1023) / 1024 or 0.001
        gq = (bits >> 52) & 99
        qual = 20 + ((bits >> 44) & 255)
        record = (
            f"{CONTIGS[contig][0]}\t{pos}\t.\t{ref}\t{alt_field}\t{qual}\tPASS\tDP={dp};AF={af:.3f}"
            f"\tGT:DP:GQ\t{genotypes[(bits >> 58) & 3]}:{dp}:{gq}\n"
        )
        records.append(record)
        size += len(record)
    return (text + "".join(records)).encode()


def _tsv(rng: random.Random, file_name: str) -> bytes:
    """A de-identified phenotype extract (or, for ``*.data_dictionary.tsv``, the variables' dictionary)."""
    if file_name.endswith(".data_dictionary.tsv"):
        rows = [
            ("variable", "type", "description"),
            ("participant", "string", "de-identified participant id"),
            ("sex", "enum", "female, male or unknown"),
            ("population", "enum", "1000 Genomes super-population (AFR, AMR, EAS, EUR, SAS)"),
            ("age_at_enrollment", "integer", "age in years when enrolled"),
            ("bmi", "number", "body-mass index, kg/m2"),
            ("phenotype", "string", "primary phenotype or control"),
            ("smoking_status", "enum", "never, former, current or unknown"),
            ("release", "string", _sample_name(file_name)),
        ]
        return "".join("\t".join(r) + "\n" for r in rows).encode()
    header = "participant\tsex\tpopulation\tage_at_enrollment\tbmi\tphenotype\tsmoking_status\n"
    lines: list[str] = []
    for _ in range(rng.randint(20, 80)):
        bits = rng.getrandbits(64)
        age = max(18, min(90, int(rng.gauss(52, 15))))
        bmi = round(max(15.0, min(55.0, rng.gauss(27, 5))), 1)
        lines.append(
            f"anon-{bits & 0xFFFFFFFF:08x}\t{SEXES[(bits >> 32) & 1]}\t{POPULATIONS[((bits >> 33) & 0xFF) % 5]}"
            f"\t{age}\t{bmi}\t{PHENOTYPES[((bits >> 41) & 0xFF) % 6]}\t{SMOKING[(bits >> 49) & 3]}\n"
        )
    return (header + "".join(lines)).encode()
