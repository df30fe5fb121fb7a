"""Split a text into paragraphs with character offsets into the original string.

Rules, in order:

* Line breaks are ``\\r\\n``, ``\\n``, ``\\r``, U+2028 and U+2029; a whitespace-only line is blank.
* Every non-blank line starts a new paragraph (news sites and pasted articles often use one
  line per paragraph), except a *hard-wrapped continuation*: a line that starts with a
  lowercase letter, or follows a line ending in a comma, hyphen or an open word, is joined to
  the previous line when neither is a heading, list item or table row.
* Lines without a single letter or digit (table rules ``|---|``, ``***``) carry no text and are
  dropped.
* A paragraph longer than ``max_chars`` is split at sentence boundaries (at whitespace if a
  single sentence is longer still).

Guarantees (tested with hypothesis): ``text[p.start:p.end] == p.text`` for every paragraph;
paragraphs are in order and do not overlap; every letter and digit of the input lies in exactly
one paragraph; segmenting a paragraph's own text gives that paragraph back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_MAX_CHARS = 2000

_LINE = re.compile(r"[^\r\n\u2028\u2029]*")
_STRUCTURAL = re.compile(r"^\s*(#{1,6}\s|[-*+•–—]\s|\d{1,3}[.)]\s|\|)")
_CONTINUES = re.compile(r"[,\-‐–(\[«“„]$|\w$")
_ENDS_SENTENCE = re.compile(r"[.!?…:;»”\")\]]$")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"»”’)\]]*\s+")
_MIN_WRAPPED = 30  # hard-wrapped lines are long; short lowercase lines are list-like
_ALNUM = re.compile(r"[^\W_]")
_BREAK = re.compile(r"\r\n|[\r\n\u2028\u2029]")


@dataclass(frozen=True)
class Paragraph:
    """One paragraph: its position among the paragraphs and its span in the original text."""

    index: int
    start: int
    end: int
    text: str


def _lines(text: str) -> list[tuple[int, int]]:
    """Spans of the non-blank lines, trimmed of surrounding whitespace."""
    spans = []
    for match in _LINE.finditer(text):
        line = match.group()
        stripped = line.strip()
        if not stripped:
            continue
        start = match.start() + (len(line) - len(line.lstrip()))
        spans.append((start, start + len(stripped)))
    return spans


def _joins(prev: str, line: str) -> bool:
    """Whether ``line`` continues ``prev`` (a hard-wrapped paragraph), not a new one."""
    if _STRUCTURAL.match(prev) or _STRUCTURAL.match(line):
        return False
    if _ENDS_SENTENCE.search(prev) or len(prev) < _MIN_WRAPPED:
        return False
    first = line[0]
    return first.islower() or (bool(_CONTINUES.search(prev)) and prev[-1] in ",-‐–([«“„")


def _split_long(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Cut ``text[start:end]`` into pieces of at most ``max_chars`` at sentence boundaries."""
    if end - start <= max_chars:
        return [(start, end)]
    # Candidate cut points: after each sentence end, else after any whitespace run.
    segment = text[start:end]
    cuts = [m.end() for m in _SENTENCE_END.finditer(segment)]
    pieces: list[tuple[int, int]] = []
    pos = 0
    while len(segment) - pos > max_chars:
        limit = pos + max_chars
        fitting = [c for c in cuts if pos < c <= limit]
        if not fitting:
            spaces = [m.end() for m in re.finditer(r"\s+", segment[pos:limit])]
            fitting = [pos + s for s in spaces if s < max_chars]
        cut = fitting[-1] if fitting else limit
        piece = segment[pos:cut].rstrip()
        if piece:
            pieces.append((start + pos, start + pos + len(piece)))
        pos = cut
        while pos < len(segment) and segment[pos].isspace():
            pos += 1
    if pos < len(segment):
        pieces.append((start + pos, end))
    return pieces


def _pack(text: str, lines: list[tuple[int, int]], max_chars: int) -> list[tuple[int, int]]:
    """Pieces of at most ``max_chars`` from a paragraph's lines.

    A long paragraph of several lines is cut between lines (so each piece starts at a line start
    and segmenting it again joins the same lines); only a single line longer than the limit is
    cut inside, at sentence boundaries.
    """
    if lines[-1][1] - lines[0][0] <= max_chars:
        return [(lines[0][0], lines[-1][1])]
    pieces: list[tuple[int, int]] = []
    current: tuple[int, int] | None = None
    for start, end in lines:
        if end - start > max_chars:
            if current:
                pieces.append(current)
            pieces.extend(_split_long(text, start, end, max_chars))
            current = None
        elif current and end - current[0] <= max_chars:
            current = (current[0], end)
        else:
            if current:
                pieces.append(current)
            current = (start, end)
    if current:
        pieces.append(current)
    return pieces


def segment(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> list[Paragraph]:
    """Split ``text`` into paragraphs.

    Parameters
    ----------
    text : str
        Any text; Windows, Unix and old Mac line endings are all accepted.
    max_chars : int, default 2000
        Paragraphs longer than this are split at sentence boundaries.

    Returns
    -------
    list of Paragraph
        In text order, ``index`` counting from 0. Empty for text with no letters or digits.
    """
    if max_chars < 1:
        raise ValueError("max_chars must be positive")
    blocks: list[list[tuple[int, int]]] = []  # lines joined into one paragraph
    for start, end in _lines(text):
        if blocks:
            prev_start, prev_end = blocks[-1][-1]
            if len(_BREAK.findall(text, prev_end, start)) < 2 and _joins(  # no blank line between
                text[prev_start:prev_end], text[start:end]
            ):
                blocks[-1].append((start, end))
                continue
        blocks.append([(start, end)])

    spans: list[tuple[int, int]] = []
    for lines in blocks:
        for piece in _pack(text, lines, max_chars):
            if _ALNUM.search(text, *piece):
                spans.append(piece)
    return [Paragraph(i, s, e, text[s:e]) for i, (s, e) in enumerate(spans)]
