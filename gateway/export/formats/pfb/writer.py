"""Writing a PFB file with fastavro in constant memory: to the caller's file object (:func:`write_pfb`), or as byte
chunks the caller pulls (:func:`pfb_chunks`); see :mod:`gateway.export.formats.pfb` for the streaming contract.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any, cast

from gateway.export.dictionary import Dictionary
from gateway.export.formats.pfb.records import ORDER_FILTER_BITS, Encoder, Entity, PFBError, metadata_object
from gateway.export.formats.pfb.schema import avro_schema

DEFAULT_BLOCK_SIZE = 64 * 1024

if TYPE_CHECKING:  # fastavro loads when the first file is written, not when the gateway starts
    from fastavro.write import Writer


def _as_file(sink: _WriteOnly | _ChunkSink) -> IO[bytes]:
    """A write-only sink as the file object fastavro's ``Writer`` is typed to take (it only calls ``write``,
    ``flush`` and ``seekable``)."""
    return cast("IO[bytes]", sink)


class _Export:
    """Schema, Metadata and the record stream of one export (validated when built, before any byte is written)."""

    def __init__(
        self, dictionary: Dictionary, entities: Iterable[Entity], misc: Mapping[str, Any], *, check_order: bool,
        order_filter_bits: int,
    ) -> None:
        import fastavro

        self.schema = fastavro.parse_schema(avro_schema(dictionary))
        self.metadata = metadata_object(dictionary, misc)
        self.encoder = Encoder(dictionary, check_order, order_filter_bits)
        self.entities = entities
        self.count = 0

    def records(self) -> Iterator[dict[str, Any]]:
        yield {"id": None, "name": "Metadata", "object": ("Metadata", self.metadata), "relations": []}
        record = self.encoder.record
        for entity in self.entities:
            yield record(entity)
            self.count += 1  # counted once fastavro has taken the record

    @staticmethod
    def write(writer: Writer, record: dict[str, Any]) -> None:
        """``writer.write(record)``, a value fastavro refuses reported as a :class:`PFBError` naming the entity."""
        try:
            writer.write(record)
        except (TypeError, ValueError, OverflowError, AttributeError) as exc:
            raise PFBError(f"{record['name']} {record['id']}: {exc}") from exc


class _WriteOnly:
    """The caller's file object as fastavro sees it: never seekable, so that fastavro does not take a file at a
    non-zero position for an Avro file to append to."""

    __slots__ = ("_fo", "write")

    def __init__(self, fo: IO[bytes]) -> None:
        self._fo = fo
        self.write = fo.write

    def flush(self) -> None:
        flush = getattr(self._fo, "flush", None)
        if flush is not None:
            flush()

    def seekable(self) -> bool:
        return False


class _ChunkSink:
    """A write-only file object that keeps what fastavro writes until :meth:`take` hands it out."""

    __slots__ = ("_parts", "size")

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def seekable(self) -> bool:
        return False

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        self.size = 0
        return out


def write_pfb(
    fileobj: IO[bytes], dictionary: Dictionary, entities: Iterable[Entity], *, misc: Mapping[str, Any],
    codec: str = "null", block_size: int = DEFAULT_BLOCK_SIZE, check_order: bool = True,
    order_filter_bits: int = ORDER_FILTER_BITS,
) -> int:
    """Write a PFB file of ``entities`` (parents first) to ``fileobj``; the number of entities written.

    ``entities`` may be any iterable, typically a generator: it is consumed once, one entity at a time, and at
    most one Avro block is buffered. ``codec`` is an Avro codec (``null``, pypfb's default, or ``deflate``);
    ``block_size`` the uncompressed size at which fastavro ends a block. Raises :class:`PFBError`
    (:class:`OrderError`) on an entity the dictionary does not allow, leaving ``fileobj`` with a partial file.
    """
    export = _Export(dictionary, entities, misc, check_order=check_order, order_filter_bits=order_filter_bits)
    from fastavro.write import Writer

    writer = Writer(_as_file(_WriteOnly(fileobj)), export.schema, codec=codec, sync_interval=block_size)
    for record in export.records():
        export.write(writer, record)
    writer.flush()
    return export.count


def pfb_chunks(
    dictionary: Dictionary, entities: Iterable[Entity], misc: Mapping[str, Any], chunk_size: int = DEFAULT_BLOCK_SIZE,
    *, codec: str = "null", check_order: bool = True, order_filter_bits: int = ORDER_FILTER_BITS,
) -> Iterator[bytes]:
    """The PFB file of ``entities`` as an iterator of byte chunks, produced as the caller pulls them: each at
    least ``chunk_size`` bytes (whole Avro blocks of about ``chunk_size`` uncompressed bytes; the first also
    carries the header) except the last.

    The dictionary, ``misc`` and ``codec`` are checked now, so a bad request fails before the first byte; entity
    errors (:class:`PFBError`) surface from ``next()`` mid-stream. The iterator holds at most ``chunk_size`` bytes
    plus one block and one entity.
    """
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    export = _Export(dictionary, entities, misc, check_order=check_order, order_filter_bits=order_filter_bits)
    sink = _ChunkSink()
    # the header goes into the sink
    from fastavro.write import Writer

    writer = Writer(_as_file(sink), export.schema, codec=codec, sync_interval=chunk_size)
    return _chunks(export, writer, sink, chunk_size)


def _chunks(export: _Export, writer: Writer, sink: _ChunkSink, chunk_size: int) -> Iterator[bytes]:
    for record in export.records():
        export.write(writer, record)
        if sink.size >= chunk_size:
            yield sink.take()
    writer.flush()
    if sink.size:
        yield sink.take()
