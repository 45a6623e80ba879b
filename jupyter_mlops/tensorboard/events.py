"""TensorBoard event files written by hand: TFRecord framing, masked CRC32C, protobuf bytes.

This keeps export free of TensorBoard, TensorFlow and protobuf. The format, as TensorBoard
reads it (``tensorboard/compat/tensorflow_stub/pywrap_tensorflow.py``'s ``PyRecordReader``):

- a file named ``events.out.tfevents.<seconds>.<anything>``, a sequence of records;
- a record is ``uint64 length`` (little-endian), ``uint32 masked_crc32c(length bytes)``, the
  ``length`` data bytes, ``uint32 masked_crc32c(data)``;
- the data of each record is a serialized ``tensorboard.Event``; the first one carries
  ``file_version = "brain.Event:2"``.

Messages are encoded with the field numbers of TensorBoard's ``event.proto``, ``summary.proto``,
``tensor.proto`` and the HParams plugin's ``plugin_data.proto`` (checked in the tests against
the real protobuf classes). Scalars use ``Summary.Value.simple_value``, a float32, as
``SummaryWriter.add_scalar`` does by default: a value keeps about seven significant digits.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from typing import BinaryIO

FILE_VERSION = "brain.Event:2"
HPARAMS_PLUGIN = "hparams"
HPARAMS_VERSION = 0
SESSION_START_TAG = "_hparams_/session_start_info"
SESSION_END_TAG = "_hparams_/session_end_info"
STATUS_SUCCESS, STATUS_FAILURE, STATUS_RUNNING = 1, 2, 3
# A length-0 float vector: what TensorBoard's own hparams summaries carry as their value.
_NULL_TENSOR = b"\x08\x01\x12\x02\x12\x00"

_WIRE_VARINT, _WIRE_64, _WIRE_BYTES, _WIRE_32 = 0, 1, 2, 5


def _crc_table() -> list[int]:
    table = []
    for n in range(256):
        crc = n
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``, as TFRecord uses."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC: rotate right by 15 bits, add a constant."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def record(data: bytes) -> bytes:
    """``data`` framed as one TFRecord."""
    header = struct.pack("<Q", len(data))
    return (
        header
        + struct.pack("<I", masked_crc32c(header))
        + data
        + struct.pack("<I", masked_crc32c(data))
    )


# -- protobuf encoding ----------------------------------------------------------------------------
def _varint(value: int) -> bytes:
    value &= 0xFFFFFFFFFFFFFFFF  # negative int64 values: ten bytes, as protobuf does
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint((field << 3) | wire)


def _bytes_field(field: int, payload: bytes) -> bytes:
    return _key(field, _WIRE_BYTES) + _varint(len(payload)) + payload


def _string_field(field: int, text: str) -> bytes:
    return _bytes_field(field, text.encode("utf-8"))


def _double_field(field: int, value: float) -> bytes:
    return _key(field, _WIRE_64) + struct.pack("<d", value)


def _float_field(field: int, value: float) -> bytes:
    return _key(field, _WIRE_32) + struct.pack("<f", value)


def _varint_field(field: int, value: int) -> bytes:
    return _key(field, _WIRE_VARINT) + _varint(value)


# -- messages -----------------------------------------------------------------------------------
def event(
    wall_time: float, step: int = 0, *, summary: bytes = b"", file_version: str = ""
) -> bytes:
    """A serialized ``Event``: wall time (seconds), step, and a summary or the file version."""
    out = _double_field(1, wall_time)
    if step:
        out += _varint_field(2, step)
    if file_version:
        out += _string_field(3, file_version)
    if summary:
        out += _bytes_field(5, summary)
    return out


def scalar_value(tag: str, value: float) -> bytes:
    """A serialized ``Summary.Value`` holding a float32 ``simple_value``."""
    return _string_field(1, tag) + _float_field(2, float32(value))


def summary(values: Iterable[bytes]) -> bytes:
    """A serialized ``Summary`` of already serialized values."""
    return b"".join(_bytes_field(1, v) for v in values)


def float32(value: float) -> float:
    """``value`` if a float32 holds it, else the infinity of its sign (as a float32 would)."""
    try:
        struct.pack("<f", value)
    except OverflowError:  # beyond float32: TensorBoard shows an infinity, as TF would store
        return float("inf") if value > 0 else float("-inf")
    return value


def _plugin_value(tag: str, plugin: str, content: bytes) -> bytes:
    plugin_data = _string_field(1, plugin) + _bytes_field(2, content)
    metadata = _bytes_field(1, plugin_data)
    return _string_field(1, tag) + _bytes_field(8, _NULL_TENSOR) + _bytes_field(9, metadata)


def _hparam_value(value: str | float | bool) -> bytes:
    """A serialized ``google.protobuf.Value``."""
    if isinstance(value, bool):
        return _varint_field(4, int(value))
    if isinstance(value, (int, float)):
        return _double_field(2, float(value))
    return _string_field(3, str(value))


def session_start(
    hparams: Mapping[str, str | float | bool], start_time_s: float, group_name: str = ""
) -> bytes:
    """A serialized ``Summary.Value``: the HParams plugin's ``SessionStartInfo``."""
    info = b"".join(
        _bytes_field(1, _string_field(1, key) + _bytes_field(2, _hparam_value(value)))
        for key, value in sorted(hparams.items())
    )
    if group_name:
        info += _string_field(4, group_name)
    info += _double_field(5, start_time_s)
    content = _varint_field(1, HPARAMS_VERSION) if HPARAMS_VERSION else b""
    content += _bytes_field(3, info)
    return _plugin_value(SESSION_START_TAG, HPARAMS_PLUGIN, content)


def session_end(status: int, end_time_s: float) -> bytes:
    """A serialized ``Summary.Value``: the HParams plugin's ``SessionEndInfo``."""
    info = _varint_field(1, status) + _double_field(2, end_time_s)
    return _plugin_value(SESSION_END_TAG, HPARAMS_PLUGIN, _bytes_field(4, info))


def hparam(text: str) -> str | float | bool:
    """A stored param (always text) as the HParams type it reads as: number, bool or string."""
    if text in ("True", "False", "true", "false"):
        return text.lower() == "true"
    try:
        number = float(text)
    except ValueError:
        return text
    return number if number == number and abs(number) != float("inf") else text


# -- files --------------------------------------------------------------------------------------
def file_header(wall_time: float) -> bytes:
    """The first record of every event file."""
    return record(event(wall_time, file_version=FILE_VERSION))


def write_records(fh: BinaryIO, events: Iterable[bytes]) -> None:
    """Append serialized events to an open event file, framed, and flush."""
    fh.write(b"".join(record(e) for e in events))
    fh.flush()
