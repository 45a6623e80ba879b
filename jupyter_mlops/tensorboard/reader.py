"""Reading back the event files this package writes (no TensorBoard needed).

Only what appending needs: the records of a file up to the first torn or corrupt one, and, per
event, the identity of its scalars and the hparams tags it carries. Files written by other tools
are read with TensorBoard's own loaders (:mod:`jupyter_mlops.tensorboard.importer`).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

from jupyter_mlops.tensorboard.events import masked_crc32c

_HEADER = 12


def read_records(path: str) -> Iterator[tuple[bytes, int]]:
    """``(data, end offset)`` of each intact record; stops at the first torn or corrupt one."""
    with open(path, "rb") as fh:
        blob = fh.read()
    offset = 0
    while offset + _HEADER <= len(blob):
        header = blob[offset : offset + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack("<I", blob[offset + 8 : offset + 12])
        end = offset + _HEADER + length + 4
        if header_crc != masked_crc32c(header) or end > len(blob):
            return
        data = blob[offset + _HEADER : end - 4]
        if struct.unpack("<I", blob[end - 4 : end])[0] != masked_crc32c(data):
            return
        yield data, end
        offset = end


def fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
    """``(field number, wire type, value)`` of a serialized protobuf message."""
    value: Any
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield field, wire, value


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def scalar_keys(event: bytes) -> Iterator[tuple[Any, ...]]:
    """Identities of what an event holds.

    ``(tag, step, timestamp in ms, float32 bytes)`` per scalar, and ``("", tag)`` per other
    value (the hparams session start and end).
    """
    wall_time, step, summary = 0.0, 0, b""
    for field, _, value in fields(event):
        if field == 1:
            (wall_time,) = struct.unpack("<d", value)
        elif field == 2:
            step = value - (1 << 64) if value >= 1 << 63 else value
        elif field == 5:
            summary = value
    timestamp = round(wall_time * 1000)
    for _, _, value in fields(summary):
        tag, simple = "", None
        for number, _, part in fields(value):
            if number == 1:
                tag = part.decode("utf-8")
            elif number == 2:
                simple = part
        yield (tag, step, timestamp, simple) if simple is not None else ("", tag)
