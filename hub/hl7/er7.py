"""ER7 (pipe-and-hat) reading on the hot path: split on demand, unescape at the leaf.

A :class:`Message` splits its text into segments once, and each :class:`Segment` into fields; components,
repetitions and subcomponents are split only where a caller asks for them. Values stay escaped until
:func:`unescape` is applied to a leaf, as HL7 v2 (2.5.1 §2.7) requires: delimiters inside a value are
escaped, so splitting before unescaping is always safe.

Segment terminators ``\\r``, ``\\n`` and ``\\r\\n`` are all accepted, a UTF-8 BOM is dropped, and a line that
does not start with a segment id is taken as the continuation of the previous segment (senders that wrap
long OBX-5 text), joined with a line break; a line of padding alone (NUL, a DOS end-of-file ^Z, blanks), as
files and fixed-size buffers leave after the last segment, is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from hub.errors import Hl7ParseError

_LINE_SPLIT = re.compile(r"\r\n|\r|\n")
# Padding: a DOS end-of-file ^Z after the last segment, NUL bytes from a fixed-size buffer. Never content (a
# FHIR string may not hold them): dropped at the end of the message and around a wrapped line; a line of
# padding and blanks alone is skipped rather than glued to the previous segment as wrapped text.
_CONTROLS = "\x00\x0b\x0c\x1a\x1c\x1d\x1e\x1f\x7f"
_PADDING = " \t" + _CONTROLS
_ESCAPE_HEX = re.compile(r"^[0-9A-Fa-f]*$")
# Control characters no text may hold: v2 text is printable characters (v2.5.1 §2.7; a sender writes any other as a
# hexadecimal escape), and a FHIR string holds none below 32 but TAB, CR and LF (R4 §2.1.28.0.1 string). C0 but
# TAB (FT and TX text may hold one) and CR and LF (segment terminators: inside a segment's text only where a wrapped
# line was joined), and DEL.
CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NO_CONTROLS = dict.fromkeys([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])


@dataclass(frozen=True, slots=True)
class Delimiters:
    """The encoding characters of one message (MSH-1 and MSH-2)."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    truncation: str = ""  # v2.7+ optional fifth character, usually '#'

    @property
    def encoding_characters(self) -> str:
        return self.component + self.repetition + self.escape + self.subcomponent + self.truncation


DEFAULT_DELIMITERS = Delimiters()


def read_delimiters(text: str) -> Delimiters:
    """Read MSH-1/MSH-2 from the start of ``text`` (which must start with MSH, BHS or FHS).

    Raises:
        Hl7ParseError: the header is too short or the encoding characters are unusable.
    """
    if len(text) < 5 or text[:3] not in ("MSH", "BHS", "FHS"):
        raise Hl7ParseError("the message does not start with an MSH segment", hl7_code="100", location="MSH^1")
    fs = text[3]
    if fs.isalnum() or fs in "\r\n ":
        raise Hl7ParseError("MSH-1 (field separator) is not a usable separator", hl7_code="102", location="MSH^1^1")
    end = text.find(fs, 4)
    line_end = len(text)
    for term in ("\r", "\n"):
        pos = text.find(term, 4)
        if pos != -1:
            line_end = min(line_end, pos)
    if end == -1 or end > line_end:
        end = line_end
    enc = text[4:end]
    # Tolerate a doubled escape character (an artefact of Java string escaping seen in the wild).
    if enc == "^~\\\\&":
        enc = "^~\\&"
    if len(enc) < 1 or len(set(enc)) != len(enc) or fs in enc or any(c.isalnum() or c.isspace() for c in enc):
        raise Hl7ParseError("MSH-2 (encoding characters) is invalid", hl7_code="102", location="MSH^1^2")
    component = enc[0]
    repetition = enc[1] if len(enc) > 1 else "~"
    escape = enc[2] if len(enc) > 2 else "\\"
    subcomponent = enc[3] if len(enc) > 3 else "&"
    truncation = enc[4] if len(enc) > 4 else ""
    return Delimiters(fs, component, repetition, escape, subcomponent, truncation)


def _is_segment_start(line: str, fs: str) -> bool:
    return (
        len(line) >= 3
        and line[0].isalpha()
        and line[:3].isalnum()
        and line[:3].isupper()
        and (len(line) == 3 or line[3] == fs)
    )


class Segment:
    """One segment; ``seg[n]`` is the raw (escaped) text of field *n*, numbered as in the standard.

    For MSH, ``seg[1]`` is the field separator and ``seg[2]`` the encoding characters, so ``msh[9]`` is
    MSH-9 as everywhere else.
    """

    __slots__ = ("name", "line", "fields")

    def __init__(self, line: str, fs: str) -> None:
        self.name = line[:3]
        self.line = line
        # Split at once (one C call): nearly every segment of a message is read, and a plain attribute spares
        # the mapping engine a property call at each of its hundreds of field reads.
        fields = line.split(fs)
        if self.name in ("MSH", "BHS", "FHS"):
            fields.insert(1, fs)
        self.fields: list[str] = fields

    def __getitem__(self, n: int) -> str:
        fields = self.fields
        return fields[n] if 0 <= n < len(fields) else ""

    def __len__(self) -> int:
        """The number of the last field present (``len(seg)`` of ``PID|1||x`` is 3)."""
        return len(self.fields) - 1

    def __repr__(self) -> str:
        return f"<Segment {self.name}>"


class Message:
    """A tokenised ER7 message."""

    __slots__ = ("segments", "delimiters")

    def __init__(self, text: str) -> None:
        if text.startswith("\ufeff"):
            text = text[1:]
        text = text.lstrip("\r\n\t \x0b").rstrip(_CONTROLS)
        self.delimiters = read_delimiters(text)
        fs = self.delimiters.field
        segments: list[Segment] = []
        # whether each segment id seen is one (_is_segment_start without the separator test): a report's twenty
        # OBX are tested once
        names: dict[str, bool] = {}
        for line in text.split("\r") if "\n" not in text else _LINE_SPLIT.split(text):
            if not line or line.isspace():
                continue
            name = line[:3]
            is_name = names.get(name)
            if is_name is None:
                is_name = names[name] = _is_segment_start(name, fs)
            if is_name and (len(line) == 3 or line[3] == fs):
                segments.append(Segment(line, fs))
            elif segments:
                if not line.strip(_PADDING):
                    continue
                line = line.strip(_CONTROLS)
                prev = segments[-1]
                segments[-1] = Segment(prev.line + "\n" + line, fs)
            else:  # pragma: no cover - read_delimiters guarantees the first line is MSH
                raise Hl7ParseError("text before the MSH segment", hl7_code="100", location="MSH^1")
        self.segments = segments

    @classmethod
    def of(cls, segments: list[Segment], delimiters: Delimiters) -> Message:
        """A message of these segments (already tokenised) and delimiters."""
        message = object.__new__(cls)
        message.segments = segments
        message.delimiters = delimiters
        return message

    @property
    def msh(self) -> Segment:
        return self.segments[0]

    def iter(self, name: str) -> Iterator[Segment]:
        return (s for s in self.segments if s.name == name)

    def first(self, name: str) -> Segment | None:
        for s in self.segments:
            if s.name == name:
                return s
        return None

    def to_er7(self) -> str:
        """The message with ``\\r`` segment terminators (the wire form)."""
        return "\r".join(s.line for s in self.segments) + "\r"

    # Splitting helpers bound to this message's delimiters -------------------------------------
    def repetitions(self, value: str) -> list[str]:
        return value.split(self.delimiters.repetition) if value else []

    def components(self, value: str) -> list[str]:
        return value.split(self.delimiters.component)

    def subcomponents(self, value: str) -> list[str]:
        return value.split(self.delimiters.subcomponent)

    def unescape(self, value: str) -> str:
        return unescape(value, self.delimiters)

    def get(self, segment: Segment, field: int, component: int = 0, subcomponent: int = 0, repetition: int = 0) -> str:
        """One unescaped leaf; component and subcomponent are 1-based, 0 means 'whole'."""
        value = segment[field]
        if not value:
            return ""
        if segment.name == "MSH" and field in (1, 2):
            return value
        d = self.delimiters
        if d.repetition in value:
            reps = value.split(d.repetition)
            value = reps[repetition] if repetition < len(reps) else ""
        elif repetition:
            return ""
        if component:
            comps = value.split(d.component)
            value = comps[component - 1] if component <= len(comps) else ""
            if subcomponent:
                subs = value.split(d.subcomponent)
                value = subs[subcomponent - 1] if subcomponent <= len(subs) else ""
        return unescape(value, d) if d.escape in value else value


def parse(text: str) -> Message:
    """Tokenise an ER7 message.

    Raises:
        Hl7ParseError: no MSH segment, or unusable encoding characters.
    """
    return Message(text)


def _hex_decoded(data: bytes) -> str:
    """The text of a hexadecimal escape's bytes (v2.5.1 §2.7.4 ``\\Xdddd\\``): UTF-8, else GB18030 (a Chinese
    sender's bytes in the charset its MSH-18 names: ``\\XC4E3BAC3\\`` is 你好), else Latin-1."""
    for codec in ("utf-8", "gb18030"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _hex_text(data: bytes) -> str:
    """A hexadecimal escape's text without control characters: one escaped (``\\X1B\\``) is no more text for a
    FHIR string than one sent as it is (:data:`CONTROLS`, :func:`without_controls`)."""
    text = _hex_decoded(data)
    return text.translate(_NO_CONTROLS) if CONTROLS.search(text) else text


def has_controls(text: str, d: Delimiters) -> bool:
    """Whether the text of a message may hold a control character (:data:`CONTROLS`): one as it is, or a
    hexadecimal escape (which may be of one). One regex search and one substring search: cheap enough for every
    message, and :func:`without_controls` does the exact work only when this says yes."""
    return CONTROLS.search(text) is not None or (bool(d.escape) and d.escape + "X" in text)


def without_controls(message: Message) -> tuple[Message, list[tuple[int, int]]]:
    """The message without the control characters (:data:`CONTROLS`) inside its fields, and where they were: the
    index of each segment and the number of each field that held one, sent as it is or as a hexadecimal escape
    (which :func:`unescape` drops). A delimiter is never removed, nor MSH-1 and MSH-2 read."""
    d = message.delimiters
    kept = {ord(c) for c in d.field + d.encoding_characters}
    table = {code: None for code in _NO_CONTROLS if code not in kept}
    esc = re.escape(d.escape)
    hex_escape = re.compile(esc + r"X((?:[0-9A-Fa-f]{2})+)" + esc) if d.escape else None
    segments: list[Segment] = []
    found: list[tuple[int, int]] = []
    for index, seg in enumerate(message.segments):
        literal = seg.line.translate(table) != seg.line
        escaped = hex_escape is not None and d.escape + "X" in seg.line
        if literal or escaped:
            first = 3 if seg.name in ("MSH", "BHS", "FHS") else 1
            for n in range(first, len(seg.fields)):
                value = seg.fields[n]
                if (literal and value.translate(table) != value) or (
                    escaped
                    and hex_escape is not None
                    and any(CONTROLS.search(_hex_decoded(bytes.fromhex(m[1]))) for m in hex_escape.finditer(value))
                ):
                    found.append((index, n))
        segments.append(Segment(seg.line.translate(table), d.field) if literal else seg)
    return Message.of(segments, d), found


def unescape(value: str, d: Delimiters = DEFAULT_DELIMITERS) -> str:
    """Resolve HL7 escape sequences (2.5.1 §2.7.4): ``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\ \\P\\ \\Xhh..\\ \\.br\\``.

    Formatted text (v2.5.1 §2.7.6) becomes plain text: ``.br`` and ``.ce`` a line break, ``.sp n`` n line breaks
    (one without n), ``.sk n`` n spaces; other formatting (``\\H\\``, ``\\N\\``, ``.in``, ``.ti``, ``.fi``, ``.nf``)
    and charset switches are dropped, since FHIR strings are plain text. An escape that is not closed is kept
    literally.
    """
    esc = d.escape
    if not esc or esc not in value:
        return value
    out: list[str] = []
    i = 0
    n = len(value)
    while i < n:
        c = value[i]
        if c != esc:
            j = value.find(esc, i)
            if j == -1:
                out.append(value[i:])
                break
            out.append(value[i:j])
            i = j
            continue
        close = value.find(esc, i + 1)
        if close == -1:
            out.append(value[i:])
            break
        seq = value[i + 1 : close]
        i = close + 1
        if seq == "F":
            out.append(d.field)
        elif seq == "S":
            out.append(d.component)
        elif seq == "T":
            out.append(d.subcomponent)
        elif seq == "R":
            out.append(d.repetition)
        elif seq == "E":
            out.append(esc)
        elif seq == "P" and d.truncation:
            out.append(d.truncation)
        elif seq == ".br" or seq == ".ce":
            out.append("\n")  # a line break; .ce (centre the next line) also ends the line
        elif seq.startswith((".sp", ".sk")) and (seq[3:].strip().isdigit() or not seq[3:].strip()):
            # .sp n: end the line and skip n (default 1) vertical spaces; .sk n: skip n spaces to the right
            count = int(seq[3:].strip() or 1)
            out.append(("\n" if seq.startswith(".sp") else " ") * min(count, 100))
        elif seq.startswith("X") and _ESCAPE_HEX.match(seq[1:]) and len(seq) % 2 == 1:
            out.append(_hex_text(bytes.fromhex(seq[1:])))
        elif seq in ("H", "N") or seq.startswith((".sp", ".in", ".ti", ".sk", ".fi", ".nf", ".ce", "C", "M", "Z")):
            # Highlighting, formatting, charset switches and locally defined escapes: not text.
            continue
        elif seq == "":
            out.append(esc + esc)
        else:
            out.append(esc + seq + esc)
    return "".join(out)


def escape(value: str, d: Delimiters = DEFAULT_DELIMITERS) -> str:
    """Escape a plain string for use as one leaf value."""
    if not value:
        return value
    esc = d.escape
    table = {
        esc: f"{esc}E{esc}",
        d.field: f"{esc}F{esc}",
        d.component: f"{esc}S{esc}",
        d.subcomponent: f"{esc}T{esc}",
        d.repetition: f"{esc}R{esc}",
        "\r": f"{esc}X0D{esc}",
        "\n": f"{esc}.br{esc}",
    }
    if d.truncation:
        table[d.truncation] = f"{esc}P{esc}"
    if not any(ch in value for ch in table):
        return value
    return "".join(table.get(ch, ch) for ch in value)
