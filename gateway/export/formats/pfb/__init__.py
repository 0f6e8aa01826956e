"""PFB (Portable Format for Biomedical data) export, written with fastavro in constant memory (pure, no I/O of
its own).

A PFB file is one Avro object container file of ``Entity`` records, laid out as pypfb (uc-cdis/pypfb 0.6) writes
and reads it:

* **Schema.** ``Entity {id: [null, string], name: string, object: [Metadata, <one record per node>...],
  relations: [Relation {dst_id, dst_name}]}``, the container records (``Metadata``, ``Node``, ``Link`` with the
  ``Multiplicity`` enum, ``Property``) exactly as pypfb's ``make_avro_schema`` spells them, and one record per
  dictionary node whose fields follow pypfb's Gen3 importer: every field nullable, ``["null", T]`` with default
  null, or ``[T, "null"]`` with the property's default; ``integer`` → ``long``, ``number`` → ``double``; enums are
  Avro enums named ``<node>_<property>`` (arrays of enums: items named ``<node>_<property>_anon_enum``, itself
  escaped as pypfb does); descriptions become ``doc``.
* **Enum symbols.** Avro symbols are ``[A-Za-z_][A-Za-z0-9_]*``; pypfb escapes every other character, and a
  leading digit, as ``_<lowercase hex code point>_`` (``"type 2"`` → ``type_20_2``, ``"1a"`` → ``_31_a``, ``_`` →
  ``_5f_``), in the schema's symbols and defaults and in the values of records, and its reader decodes
  ``_[a-f0-9]{2,}_`` back. The file carries no mapping: the escape is its own inverse. :func:`encode_symbol` does
  the same; the dictionary rejects symbols it could not round-trip.
* **Records.** The ``Metadata`` record comes first (``id`` null, ``name`` ``"Metadata"``): per node its
  ``links`` (multiplicity upper-cased, ``dst`` the parent node, ``name`` the link name), ``properties`` (name,
  ``ontology_reference`` = the ``termDef.term``, ``values`` = the other ``termDef`` keys) and ``values`` (the
  node's ``termDef``), and ``misc``, a string map (here: the caller's, e.g. per-member export status). Then the
  entities, each parent before the children whose ``relations`` point at it (Terra and ``pfb to tsv`` stream the
  file and resolve references as they go).

**Parent-before-child checking in constant memory.** Remembering every id written would grow with the export;
instead (``check_order=True``) each relation is checked twice:

1. exactly, per node type: its ``dst_name`` must be a parent the dictionary links the child's node to, and at
   least one entity of that node type must already have been written;
2. per id, against a Bloom filter of the ``(node, id)`` s written so far of node types that are some node's
   parent (2 probes into 2**24 bits: 2 MiB, fixed). A reference the filter has not seen is certainly out of order
   and raises :class:`OrderError`; no correct file is ever refused. A wrong reference can slip through when its
   probes collide, with probability about ``(1 - exp(-2n / 2**24))**2`` for ``n`` parents written so far:
   1.4e-4 at 100,000 parents, 1.3 % at a million.

The error comes mid-stream, after earlier blocks went out: a streaming caller must abort the transfer (not end
it cleanly) so that the client sees a truncated download rather than a short valid file.

**Streaming.** Both entry points feed fastavro's ``Writer`` one record at a time from a generator over the
caller's entities, so at most one Avro block (``block_size`` uncompressed bytes) and one entity are held at a time.
:func:`write_pfb` writes to the caller's file object. :func:`pfb_chunks` gives fastavro a write-only sink that
only collects what it writes; once ``chunk_size`` bytes have gathered (after a block was flushed into it), they
are yielded and dropped, the header travelling with the first chunk. The caller (an HTTP handler) pulls chunks one
by one, so the file is never built in memory.

The parts: :mod:`~gateway.export.formats.pfb.schema` (the Avro schema, symbol escaping),
:mod:`~gateway.export.formats.pfb.records` (the Metadata record, entities checked and encoded, the order filter) and
:mod:`~gateway.export.formats.pfb.writer` (fastavro, a file or chunks).
"""

from gateway.export.formats.pfb.records import ORDER_FILTER_BITS, Entity, OrderError, PFBError, metadata_object
from gateway.export.formats.pfb.schema import avro_schema, decode_symbol, encode_symbol, node_schemas
from gateway.export.formats.pfb.writer import DEFAULT_BLOCK_SIZE, pfb_chunks, write_pfb

__all__ = [
    "DEFAULT_BLOCK_SIZE", "ORDER_FILTER_BITS", "Entity", "OrderError", "PFBError", "avro_schema", "decode_symbol",
    "encode_symbol", "metadata_object", "node_schemas", "pfb_chunks", "write_pfb",
]
