r"""SQL ``LIKE`` patterns matched in time linear in the text, never by a backtracking regex.

A regex such as ``.*a.*a.*a.*b`` backtracks: on a long value that does not match it tries every
way of splitting the value between the stars, which is polynomial in the value's length with the
number of stars as the exponent (seconds for a dozen characters over a 1,500-character param).
Here a pattern is split on its unescaped ``%`` into *segments* of fixed width (characters and
``_``); a value matches when the first segment is its prefix, the last its suffix, and the ones
between occur in order in the rest. Taking each middle segment at its leftmost occurrence is
always right: a fixed-width segment found earlier ends earlier and leaves more room for the
ones after it. So a match is one pass over the value: ``str.startswith``, ``str.endswith`` and
``str.find`` for plain segments, and a regex without any quantifier (at most ``width`` steps per
position) for segments with ``_``.

``ILIKE`` compares after :meth:`str.lower` on both sides (as the dialect folds ``status``).

Examples
--------
>>> matches = like_matcher("%rf%_1")
>>> matches("model-rf-v1"), matches("rf1")
(True, False)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["fold", "like_matcher", "split_pattern"]

Matcher = Callable[[str], bool]
# The places of the rarest piece are tried one by one (about 0.3 µs each in Python) when that
# costs less than the regex scanning every place (about 1 ns a step, up to ``width`` steps).
_FEW = 16


@dataclass(frozen=True)
class Segment:
    """A run of pattern characters between two ``%``: ``text`` with ``_`` at ``wild`` offsets."""

    text: str
    wild: tuple[int, ...]

    @property
    def width(self) -> int:
        """How many characters of a value the segment covers."""
        return len(self.text)


def split_pattern(pattern: str) -> tuple[list[Segment], bool]:
    r"""``pattern``'s segments (``\%``, ``\_``, ``\\`` are literal) and whether it has a ``%``."""
    segments: list[Segment] = []
    chars: list[str] = []
    wild: list[int] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and pattern[i + 1 : i + 2] in ("%", "_", "\\"):
            chars.append(pattern[i + 1])
            i += 2
            continue
        if char == "%":
            segments.append(Segment("".join(chars), tuple(wild)))
            chars, wild = [], []
        else:
            if char == "_":
                wild.append(len(chars))
            chars.append(char)
        i += 1
    segments.append(Segment("".join(chars), tuple(wild)))
    return segments, len(segments) > 1


def fold(value: str) -> str:
    """``value`` in lower case, one character for one (``İ`` alone lowers to two)."""
    if value.isascii() or "\u0130" not in value:
        return value.lower()
    return value.replace("\u0130", "i").lower()


def like_matcher(pattern: str, ignore_case: bool = False) -> Matcher:
    r"""``matches(value) -> bool`` for a ``LIKE`` pattern, linear in ``len(value)``.

    Parameters
    ----------
    pattern : str
        ``%`` matches any run of characters, ``_`` exactly one; ``\%``, ``\_`` and ``\\`` stand
        for themselves.
    ignore_case : bool
        ``ILIKE``: compare the lower-cased value with the lower-cased pattern.
    """
    segments, floating = split_pattern(fold(pattern) if ignore_case else pattern)
    matcher = _whole(segments[0]) if not floating else _floating(segments)
    if not ignore_case:
        return matcher
    return lambda value: matcher(fold(value))


def _whole(segment: Segment) -> Matcher:
    """A pattern without ``%``: the value is exactly as wide as the segment."""
    if not segment.wild:
        return segment.text.__eq__
    rx = _segment_regex(segment)
    width = segment.width
    return lambda value: len(value) == width and rx.match(value) is not None


def _floating(segments: list[Segment]) -> Matcher:
    """``first % middle... % last``: prefix, suffix, then the middles in order between them."""
    first, *middle, last = segments
    middle = [s for s in middle if s.width]  # '%%' is '%'
    plain = not first.wild and not last.wild and not any(s.wild for s in middle)
    if plain and len(middle) <= 1:
        return _plain_floating(first.text, middle[0].text if middle else "", last.text)
    head, tail = _anchor(first, at_end=False), _anchor(last, at_end=True)
    finders = [_finder(s) for s in middle]
    least = first.width + last.width + sum(s.width for s in middle)
    head_width, tail_width = first.width, last.width
    needed = _needed(segments)

    def matches(value: str) -> bool:
        if len(value) < least:
            return False
        for piece in needed:  # one C scan each: most values fail here
            if piece not in value:
                return False
        if not head(value) or not tail(value):
            return False
        pos, stop = head_width, len(value) - tail_width
        for find in finders:
            pos = find(value, pos, stop)
            if pos < 0:
                return False
        return True

    return matches


def _needed(segments: list[Segment], most: int = 3) -> list[str]:
    """The longest few texts between ``%`` and ``_`` that every matching value contains."""
    pieces = {text for segment in segments for text, _ in _pieces(segment)}
    return sorted(pieces, key=lambda text: (-len(text), text))[:most]


def _plain_floating(prefix: str, inner: str, suffix: str) -> Matcher:
    """The common shapes ``'a%'``, ``'%a'``, ``'%a%'``, ``'a%b'``, without a call per segment."""
    least = len(prefix) + len(inner) + len(suffix)
    if not inner:
        if not suffix:
            return lambda value: value.startswith(prefix)
        if not prefix:
            return lambda value: value.endswith(suffix)
        return lambda value: (
            len(value) >= least and value.startswith(prefix) and value.endswith(suffix)
        )
    if not prefix and not suffix:
        if len(inner) < 16:
            return lambda value: inner in value
        # A long text: its rarest characters first (memchr is far cheaper than a long search).
        rare = sorted(set(inner), key=inner.count)[:2]
        return lambda value: all(c in value for c in rare) and inner in value
    start = len(prefix)
    return lambda value: (
        len(value) >= least
        and value.startswith(prefix)
        and value.endswith(suffix)
        and value.find(inner, start, len(value) - len(suffix)) >= 0
    )


def _anchor(segment: Segment, at_end: bool) -> Matcher:
    """Does the value start (or end) with ``segment``? Callers checked the value's length."""
    if not segment.width:
        return lambda value: True
    if not segment.wild:
        text = segment.text
        return (lambda value: value.endswith(text)) if at_end else (lambda v: v.startswith(text))
    rx, width = _segment_regex(segment), segment.width
    if at_end:
        return lambda value: rx.match(value, len(value) - width) is not None
    return lambda value: rx.match(value) is not None


def _finder(segment: Segment) -> Callable[[str, int, int], int]:
    """``find(value, start, stop)``: the end of the leftmost occurrence in ``value[start:stop]``."""
    width = segment.width
    if not segment.wild:
        text = segment.text

        def find_text(value: str, start: int, stop: int) -> int:
            found = value.find(text, start, stop)
            return found + width if found >= 0 else -1

        return find_text
    return _wild_finder(segment)


def _wild_finder(segment: Segment) -> Callable[[str, int, int], int]:
    """The leftmost occurrence of a segment with ``_``, trying only where its rarest piece is.

    Every piece (the plain text between two ``_``) must occur, so one that does not ends the
    search at once; a piece that occurs only a few times gives the only places worth trying;
    otherwise the segment's regex scans the value (in C: at most ``width`` steps a place).
    """
    rx, width = _segment_regex(segment), segment.width
    pieces = _pieces(segment)

    def find_wild(value: str, start: int, stop: int) -> int:
        if not pieces:  # only '_': any place with room
            return start + width if stop - start >= width else -1
        rarest, fewest = pieces[0], stop
        for piece in pieces:  # distinct texts, longest first: the likeliest to be missing
            count = value.count(piece[0], start + piece[1], stop)
            if count < fewest:
                if not count:
                    return -1
                rarest, fewest = piece, count
        if fewest > max(_FEW, (stop - start) * width // 600):  # cheaper in C than one by one
            place = rx.search(value, start, stop)
            return place.end() if place is not None else -1
        text, at = rarest
        found = value.find(text, start + at, stop)
        while found >= 0:
            place = rx.match(value, found - at, stop)
            if place is not None:
                return place.end()
            found = value.find(text, found + 1, stop)
        return -1

    return find_wild


def _pieces(segment: Segment) -> list[tuple[str, int]]:
    """The distinct runs of plain text between ``_``, each at its first offset, longest first."""
    pieces: dict[str, int] = {}
    start = 0
    for cut in (*segment.wild, segment.width):
        if cut > start:
            pieces.setdefault(segment.text[start:cut], start)
        start = cut + 1
    return sorted(pieces.items(), key=lambda piece: -len(piece[0]))


def _segment_regex(segment: Segment) -> re.Pattern[str]:
    """A regex of fixed width, without quantifiers: at most ``width`` steps per position."""
    wild = set(segment.wild)
    parts = ["." if i in wild else re.escape(c) for i, c in enumerate(segment.text)]
    return re.compile("".join(parts), re.DOTALL)
