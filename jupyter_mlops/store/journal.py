r"""Journal lines: how one committed transaction is written, and how a line is judged on reading.

A transaction is a list of operations ``[verb, table, key, payload]`` (``put`` and ``merge``
take a dict, ``del`` takes ``null``). Schema 2 writes it as one framed line::

    1c291ca3 [["put","runs","3f2a...",{...}],["merge","_streams","metrics/3f/3f2a....tsv",{...}]]

eight hex digits of the CRC-32 of the JSON text, a space, the JSON text, ``\n``. Only the writer
holding the exclusive lock appends, and before appending it cuts off whatever follows the last
committed line (the unterminated tail of a writer that was killed or whose disk filled up). So a
reader only ever meets two kinds of line: complete lines, which must decode, and at most one
unterminated tail, which is ignored until the next writer removes it. A complete line that does
not decode is damage, never a torn write, and the store refuses to guess past it.

Schema 1 (written before this module) had no frame: a killed writer's half line was terminated
by the next writer with ``"\n"`` and skipped by readers, so torn lines sit *inside* old journals.
:func:`decode_legacy` still accepts exactly those lines, a truncated JSON text, and calls every
other unreadable line damage.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from typing import Any

FRAMED_SCHEMA = 2
VERBS = ("put", "merge", "del")
Ops = list[list[Any]]


class LineError(ValueError):
    """A complete journal line that is not a transaction (``reason`` says why)."""


class TornLine(LineError):
    """A schema-1 line cut short by a killed writer: dropped whole, as schema 1 promised."""


def encode(ops: Ops) -> bytes:
    """The framed line for ``ops``, newline included."""
    body = json.dumps(ops, separators=(",", ":")).encode()
    return b"%08x %s\n" % (zlib.crc32(body), body)


def decode(line: bytes) -> Ops:
    """The operations of one framed (schema 2) line, without its newline; ``LineError`` if bad."""
    if len(line) < 10 or line[8:9] != b" ":
        raise LineError("it is not a framed journal line (no checksum)")
    try:
        crc = int(line[:8], 16)
    except ValueError:
        raise LineError("its checksum is not hexadecimal") from None
    body = line[9:]
    if zlib.crc32(body) != crc:
        raise LineError("its checksum does not match its content")
    return check_ops(_loads(body))


def decode_legacy(line: bytes) -> Ops:
    """The operations of one schema-1 line; ``TornLine`` for a truncated one."""
    try:
        ops = json.loads(line)
    except ValueError as e:
        if _truncated(line, e):
            raise TornLine("it was cut short by a writer that was killed") from None
        raise LineError(f"it is not JSON ({e})") from None
    return check_ops(ops)


def decode_many(lines: list[bytes]) -> list[Any] | None:
    """The transactions of framed lines in one JSON parse, or ``None`` if any line is not good.

    The fast path for catching up; on ``None`` the caller decodes line by line to find the bad
    one. Shapes are not checked here.
    """
    crc32 = zlib.crc32
    bodies = []
    for line in lines:
        body = memoryview(line)[9:]
        if line[8:9] != b" " or crc32(body) != int(line[:8], 16):
            return None
        bodies.append(body)
    try:
        txns = json.loads(b"[%s]" % b",".join(bodies))
    except ValueError:
        return None
    return txns if len(txns) == len(lines) else None


def decoder(schema: int) -> Callable[[bytes], Ops]:
    """How the lines of a journal started by a snapshot of ``schema`` read."""
    return decode if schema >= FRAMED_SCHEMA else decode_legacy


def decode_any(line: bytes) -> Ops:
    """A line of either schema, told apart by its frame (for repair, which reads every file)."""
    return decode(line) if line[8:9] == b" " else decode_legacy(line)


def _loads(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as e:
        raise LineError(f"it is not JSON ({e})") from None


def _truncated(line: bytes, error: ValueError) -> bool:
    """Whether ``line`` reads as a JSON text cut off at its end (what a killed writer leaves)."""
    if not line.strip():
        return True
    if not isinstance(error, json.JSONDecodeError) or not line.startswith(b"["):
        return False
    return error.msg.startswith("Unterminated string") or error.pos >= len(line.rstrip())


def check_ops(ops: Any) -> Ops:
    """``ops`` if it is a well-shaped transaction, else ``LineError`` naming what is wrong."""
    if not isinstance(ops, list) or not ops:
        raise LineError("it is not a non-empty list of operations")
    for op in ops:
        if not isinstance(op, list) or len(op) != 4:
            raise LineError(f"operation {_short(op)} is not [verb, table, key, payload]")
        verb, table, key, payload = op
        if verb not in VERBS or not isinstance(table, str) or not isinstance(key, str):
            raise LineError(f"operation {_short(op)} has an unknown verb or a non-text name")
        if (payload is not None) if verb == "del" else not isinstance(payload, dict):
            raise LineError(f"operation {_short(op)} has a payload of the wrong type")
    return ops


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def count_lines(data: bytes) -> int:
    """Complete lines in ``data``."""
    return data.count(b"\n")
