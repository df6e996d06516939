"""HL7 v2 batches (v2.5.1 §2.10.3, the batch protocol): reading the envelope and writing its answer.

A batch payload is ``[FHS] { [BHS] { MSH … } [BTS] } [FTS]``: an optional file header, one or more batches
(each with an optional header and trailer), the messages, an optional file trailer. Hospitals send their
nightly results this way, over MLLP (the whole batch in one frame), over HTTP or as a file.

The envelope is read on the bytes, line by line (CR, LF or CRLF, a UTF-8 BOM before the first segment), so
that each message is handed on as exactly the bytes it was sent as; the messages are then received one by
one as single messages are (:mod:`hub.hl7.batch_ingest`), and the answer is written here.

The answer (§2.10.3: "a batch of acknowledgment messages") mirrors the request: FHS/FTS when it had an
FHS, and for each received batch a BHS, the ACK of every message (in order), a BTS whose BTS-1 counts those
ACKs. Sender and receiver are swapped (BHS-3/4 ← BHS-5/6 and back, as MSH in an ACK), BHS-7 is now,
BHS-11 is a control id of the hub's own and BHS-12 (reference batch control id) echoes the received
BHS-11, as the standard's definition of BHS-11 says (the same for FHS-11/FHS-12). Every message gets its
ACK, not only the negative ones, although §2.10.3 allows "errors only": a sender reconciles a positive
list by MSA-2 without trusting that an absent ACK means success, and a lost or cut reply cannot pass for
"all accepted".

The whole payload is refused, nothing of it stored, each message found in it answered AR (CR in enhanced
mode) with an ERR saying why, when it cannot be trusted as the sender meant it: a BTS-1 or FTS-1 count that
disagrees with what arrived (a truncated or spliced batch; FTS-1 ``0`` over messages with no BHS/BTS, one
implicit batch, agrees), a header whose delimiters cannot be read, a
segment outside any message, anything after FTS, or a payload over ``max_batch_bytes``. An empty batch is
allowed (§2.10.3 sends one "to meet a requirement for periodic submission"): it is answered with an empty
batch, BTS-1 ``0``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from hub.config import Settings
from hub.errors import Hl7Error, Hl7ParseError, Hl7Rejected
from hub.hl7 import er7
from hub.hl7.ack import accept_ack_due, ack_code_for_error, build_ack, next_control_id, timestamp, version_tuple
from hub.hl7.charset import UTF8_BOM
from hub.hl7.header import MessageHeader, parse_header, salvage_header

_ENVELOPE = frozenset({"FHS", "BHS", "BTS", "FTS"})
_LINE_END = re.compile(rb"\r\n|\r|\n")
_BLANK = b" \t\x0b\x1a"  # spaces, a stray MLLP start byte or DOS end-of-file marker on a line of its own
_HEAD_BYTES = 64  # enough to tell a batch from a message
_COMMENT_CHARS = 80  # BTS-2 / FTS-2 are ST(80)


def is_batch(raw: bytes | bytearray) -> bool:
    """Whether a payload is a batch: its first segment (after a BOM and blank lines) is FHS or BHS."""
    head = bytes(raw[: _HEAD_BYTES + len(UTF8_BOM)])
    if head.startswith(UTF8_BOM):
        head = head[len(UTF8_BOM) :]
    head = head.lstrip(b"\r\n" + _BLANK)
    return head[:3] in (b"FHS", b"BHS")


def batch_limit(settings: Settings) -> int:
    """The largest batch payload accepted (never less than the largest message)."""
    return max(settings.max_batch_bytes, settings.max_message_bytes)


@dataclass(frozen=True, slots=True)
class EnvelopeHeader:
    """An FHS or BHS as received: its fields as Latin-1 text (so echoing them repeats the sender's bytes)."""

    fields: list[str]  # numbered as in the standard: [0] "BHS", [1] the field separator, [2] encoding chars …
    delimiters: er7.Delimiters

    def get(self, n: int) -> str:
        return self.fields[n] if n < len(self.fields) else ""


@dataclass(slots=True)
class Batch:
    """One batch: its header and trailer fields (None when absent) and its messages' bytes."""

    header: EnvelopeHeader | None = None
    trailer: list[str] | None = None  # BTS fields, [0] "BTS", [1] BTS-1 …
    messages: list[bytes] = field(default_factory=list)


@dataclass(slots=True)
class Envelope:
    """A batch payload as read: the file header and trailer (if sent) and the batches."""

    file_header: EnvelopeHeader | None = None
    file_trailer: list[str] | None = None
    batches: list[Batch] = field(default_factory=list)

    @property
    def messages(self) -> list[bytes]:
        return [m for b in self.batches for m in b.messages]


class BatchRefused(Hl7ParseError):
    """The payload is refused as a whole; ``envelope`` is what could be read of it, for the answer."""

    def __init__(self, error: Hl7Error, envelope: Envelope) -> None:
        message = f"{error.message}: batch refused, nothing stored"
        super().__init__(message, hl7_code=error.hl7_code, location=error.location)
        self.ack_code = error.ack_code
        self.reason = error.message  # without the consequence, for BTS-2
        self.envelope = envelope


class AckLike(Protocol):
    """What the answer needs of one message's outcome (:class:`~hub.hl7.receipt.AckResult` has it)."""

    @property
    def data(self) -> bytes: ...
    @property
    def code(self) -> str: ...
    @property
    def codec(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to a batch payload: the ACK batch (or ``b""``), its overall code and charset."""

    data: bytes
    code: str  # the worst MSA-1 in it (AR before AE before AA), "AA" for an empty batch
    codec: str


# Reading -----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Line:
    segment: str  # the segment id ("" for a blank line)
    start: int  # where the line starts in the payload
    text: str  # the line without its terminator, as Latin-1


def _lines(raw: bytes) -> list[_Line]:
    lines: list[_Line] = []
    pos = len(UTF8_BOM) if raw.startswith(UTF8_BOM) else 0
    n = len(raw)
    while pos < n:
        match = _LINE_END.search(raw, pos)
        end, after = (match.start(), match.end()) if match else (n, n)
        content = raw[pos:end]
        start = pos
        if content.startswith(UTF8_BOM):  # files concatenated with their BOMs
            content = content[len(UTF8_BOM) :]
            start += len(UTF8_BOM)
        stripped = content.strip(_BLANK)
        segment = ""
        if stripped:
            segment = content[:3].decode("latin-1")
            # FHS/BHS with an unusable separator are still headers (and refused as unreadable ones).
            if len(content) > 3 and content[3:4].isalnum() and segment not in ("FHS", "BHS"):
                segment = content[:4].decode("latin-1")  # not a three-letter id: never an envelope segment
        lines.append(_Line(segment, start, content.decode("latin-1")))
        pos = after
    return lines


def _header(line: _Line) -> EnvelopeHeader:
    try:
        d = er7.read_delimiters(line.text)
    except Hl7ParseError as exc:
        seg = line.segment
        raise Hl7ParseError(
            f"{seg}-1/{seg}-2 (the delimiters) cannot be read",
            hl7_code="102",
            location=(exc.location or "MSH^1").replace("MSH", seg, 1),
        ) from None
    fields = line.text.split(d.field)
    fields.insert(1, d.field)
    return EnvelopeHeader(fields, d)


def _trailer(line: _Line, fs: str) -> list[str]:
    return line.text.split(fs)  # [0] "BTS", [1] BTS-1 …


def _structure_error(text: str, line: _Line) -> Hl7ParseError:
    return Hl7ParseError(text, hl7_code="100", location=f"{line.segment or 'MSH'}^1")


def read(raw: bytes, settings: Settings) -> Envelope:
    """Read a batch payload into its envelope and messages, and check it can be trusted.

    Args:
        raw: the payload as received (no MLLP framing).
        settings: ``max_batch_bytes`` and ``max_message_bytes``.

    Returns:
        The envelope; each message is the exact bytes it was sent as (from its MSH to the next message or
        envelope segment, line ends included).

    Raises:
        BatchRefused: the payload is refused whole (over the size limit, an unreadable header, a segment out
            of place, a count that disagrees); its ``envelope`` holds what could be read.
    """
    limit = batch_limit(settings)
    if len(raw) > limit:
        raise BatchRefused(_too_large(raw, limit), salvage(raw))
    try:
        envelope = _read(raw)
    except Hl7ParseError as exc:
        raise BatchRefused(exc, salvage(raw)) from None
    try:
        _check_counts(envelope)
    except Hl7ParseError as exc:
        raise BatchRefused(exc, envelope) from None  # answered batch by batch, as it was sent
    return envelope


def _read(raw: bytes) -> Envelope:
    envelope = Envelope()
    batch: Batch | None = None
    message_start: int | None = None
    fs = "|"
    ended = False  # FTS seen
    seen_segment = False

    def close_message(at: int) -> None:
        nonlocal message_start
        if message_start is not None:
            assert batch is not None
            batch.messages.append(raw[message_start:at])
            message_start = None

    for line in _lines(raw):
        seg = line.segment
        if not seg:
            continue
        if ended:
            raise _structure_error(f"a {seg} segment follows the file trailer (FTS)", line)
        first = not seen_segment
        seen_segment = True
        if seg == "FHS":
            if not first:
                raise _structure_error("FHS (file header) is not the first segment", line)
            envelope.file_header = _header(line)
            fs = envelope.file_header.delimiters.field
        elif seg == "BHS":
            close_message(line.start)
            header = _header(line)
            fs = header.delimiters.field
            batch = Batch(header=header)
            envelope.batches.append(batch)
        elif seg == "MSH":
            close_message(line.start)
            if batch is None:  # [BHS] is optional: messages without one form a batch of their own
                batch = Batch()
                envelope.batches.append(batch)
            message_start = line.start
        elif seg == "BTS":
            close_message(line.start)
            if batch is None:
                batch = Batch()
                envelope.batches.append(batch)
            batch.trailer = _trailer(line, fs)
            batch = None
        elif seg == "FTS":
            close_message(line.start)
            envelope.file_trailer = _trailer(
                line, envelope.file_header.delimiters.field if envelope.file_header else fs
            )
            batch = None
            ended = True
        elif message_start is None:
            where = "before the first message" if not envelope.messages else "outside any message"
            raise _structure_error(f"a {seg[:3]} segment {where} of the batch", line)
    close_message(len(raw))
    if not envelope.batches:
        envelope.batches.append(Batch())  # FHS … FTS with nothing between: one empty batch
    return envelope


def _count(fields: list[str] | None, segment: str) -> int | None:
    value = fields[1].strip() if fields is not None and len(fields) > 1 else ""
    if not value:
        return None
    if not value.isdigit():
        raise Hl7ParseError(
            f"{segment}-1 ({'batch message' if segment == 'BTS' else 'file batch'} count) is not a number",
            hl7_code="102",
            location=f"{segment}^1^1",
        )
    return int(value)


def _check_counts(envelope: Envelope) -> None:
    for number, batch in enumerate(envelope.batches, start=1):
        expected = _count(batch.trailer, "BTS")
        if expected is not None and expected != len(batch.messages):
            which = f"batch {number}'s " if len(envelope.batches) > 1 else ""
            raise Hl7ParseError(
                f"{which}BTS-1 says {expected} messages, the batch holds {len(batch.messages)}",
                hl7_code="100",
                location="BTS^1^1",
            )
    expected = _count(envelope.file_trailer, "FTS")
    # Not counted: the empty batch that stands for an FHS … FTS with nothing between.
    sent = sum(1 for b in envelope.batches if b.header is not None or b.trailer is not None or b.messages)
    # FHS MSH … MSH FTS: with no BHS/BTS at all the messages are one implicit batch, and a sender counting
    # the batch headers it sent says 0; that agrees too (a count of 1, the implicit batch, agrees as well).
    implicit_only = all(b.header is None and b.trailer is None for b in envelope.batches)
    if expected is not None and expected != sent and not (implicit_only and expected == 0):
        raise Hl7ParseError(
            f"FTS-1 says {expected} batches, the file holds {sent}",
            hl7_code="100",
            location="FTS^1^1",
        )


def salvage(raw: bytes) -> Envelope:
    """What can be read of a payload that is refused: its readable headers and every message found.

    Never raises; all messages go into one batch (under the first readable BHS) so that each is answered.
    """
    envelope = Envelope()
    batch = Batch()
    envelope.batches.append(batch)
    starts: list[int] = []
    ends: list[int] = []
    for line in _lines(raw):
        if line.segment in _ENVELOPE or line.segment == "MSH":
            if len(ends) < len(starts):
                ends.append(line.start)
            if line.segment == "MSH":
                starts.append(line.start)
        if line.segment in ("FHS", "BHS"):
            try:
                header = _header(line)
            except Hl7ParseError:
                continue
            if line.segment == "FHS" and envelope.file_header is None:
                envelope.file_header = header
            elif line.segment == "BHS" and batch.header is None:
                batch.header = header
    if len(ends) < len(starts):
        ends.append(len(raw))
    batch.messages = [raw[s:e] for s, e in zip(starts, ends, strict=True)]
    return envelope


def _too_large(raw: bytes, limit: int) -> Hl7Rejected:
    first = next((m for m in salvage(raw[:65_536]).messages), b"")
    header = salvage_header(first) if first else None
    version = header.version if header is not None else ""
    return Hl7Rejected(
        f"the batch is larger than the {limit} bytes accepted",
        hl7_code="104" if version_tuple(version) >= (2, 7) else "207",
        location="BHS^1",
    )


def refuse_oversize(head: bytes, settings: Settings) -> Reply:
    """The answer to a batch payload over ``max_batch_bytes``, from its first bytes (nothing is stored):
    the messages found in them are answered AR."""
    envelope = salvage(head)
    return refuse(envelope, BatchRefused(_too_large(head, batch_limit(settings)), envelope), settings)


# Answering ---------------------------------------------------------------------------------------------
_SEVERITY = {"AR": 3, "CR": 3, "AE": 2, "CE": 2}


def refuse(envelope: Envelope, error: Hl7Error, settings: Settings) -> Reply:
    """The answer to a payload refused whole: every message found in it answered AR (CR) with ``error``.

    When no message can be found at all, one ACK with an empty MSA-2 carries the error, so that the answer
    is never an empty batch, which a sender that counts on "errors only" would take as "all accepted".
    """
    answers: list[list[AckLike]] = []
    for batch in envelope.batches:
        answers.append([_refusal(message, error, settings) for message in batch.messages])
    if not envelope.messages:
        code = ack_code_for_error(None, error)
        answers = [[_Ack(build_ack(None, code, error=error).encode("ascii", "replace"), code, "ascii")]]
        envelope = Envelope(envelope.file_header, envelope.file_trailer, [envelope.batches[0]])
    comment = f"refused: {error.reason if isinstance(error, BatchRefused) else error.message}"
    return answer(envelope, answers, comment=comment, always=True)


@dataclass(frozen=True, slots=True)
class _Ack:
    data: bytes
    code: str
    codec: str


def _refusal(message: bytes, error: Hl7Error, settings: Settings) -> AckLike:
    header: MessageHeader | None
    try:
        header, _text = parse_header(message, settings)
    except Exception:  # unreadable MSH: the Latin-1 reading is good enough to name the message
        header = salvage_header(message)
    code = ack_code_for_error(header, error)
    codec = header.codec if header is not None else "ascii"
    if not accept_ack_due(header, code):
        return _Ack(b"", code, codec)
    return _Ack(build_ack(header, code, error=error).encode(codec, "replace"), code, codec)


def answer(
    envelope: Envelope,
    acks: Sequence[Sequence[AckLike]],
    *,
    comment: str = "",
    always: bool = False,
    control_ids: tuple[str | None, Sequence[str]] | None = None,
) -> Reply:
    """The ACK batch for a received payload.

    Args:
        envelope: the payload as read.
        acks: for each of its batches, the outcome of each of its messages, in order.
        comment: for BTS-2 (and FTS-2) instead of the count of each code.
        always: answer even when no message has an ACK due (a refusal).
        control_ids: the answer's FHS-11 (used only when there is an FHS) and each batch's BHS-11, when they
            were decided beforehand (and stored with the messages); new ones by default.

    Returns:
        The reply; ``data`` is ``b""`` when the payload had messages and none of them wants an accept
        acknowledgment (MSH-15 NE, or incoming ACKs), as for a single message.
    """
    codes = [a.code for batch in acks for a in batch]
    due = [a for batch in acks for a in batch if a.data]
    codec = due[0].codec if due else "ascii"
    worst = max(codes, key=lambda c: _SEVERITY.get(c, 0), default="AA")
    if codes and not due and not always:
        return Reply(b"", worst, codec)
    file_header = envelope.file_header
    default = file_header.delimiters if file_header is not None else er7.DEFAULT_DELIMITERS
    out: list[bytes] = []
    file_id, batch_ids = control_ids if control_ids is not None else (None, [])
    if file_header is not None:
        out.append(_answer_header("FHS", file_header, default, file_id or next_control_id()))
    for n, (batch, outcomes) in enumerate(zip(envelope.batches, acks, strict=True)):
        d = batch.header.delimiters if batch.header is not None else default
        out.append(_answer_header("BHS", batch.header, d, batch_ids[n] if n < len(batch_ids) else next_control_id()))
        sent = [a.data for a in outcomes if a.data]
        for data in sent:
            out.append(data if data.endswith((b"\r", b"\n")) else data + b"\r")
        note = comment or summary([a.code for a in outcomes])
        out.append(_segment(d, ["BTS", str(len(sent)), _comment(note, d)]))
    if file_header is not None:
        out.append(_segment(default, ["FTS", str(len(envelope.batches)), _comment(comment, default)]))
    return Reply(b"".join(out), worst, codec)


def summary(codes: list[str]) -> str:
    """``2 AA, 1 AR``: how many messages got each code (BTS-2 of an answer, the log)."""
    if not codes:
        return "no messages in the batch; nothing stored"
    counts: dict[str, int] = {}
    for code in codes:
        counts[code] = counts.get(code, 0) + 1
    return ", ".join(f"{n} {code}" for code, n in sorted(counts.items()))


def _comment(text: str, d: er7.Delimiters) -> str:
    return er7.escape(text[:_COMMENT_CHARS], d)


def _answer_header(segment: str, received: EnvelopeHeader | None, d: er7.Delimiters, control_id: str) -> bytes:
    """FHS/BHS of the answer: receiver and sender swapped, now, a control id of our own, the received one
    as the reference (FHS-12/BHS-12)."""

    def get(n: int) -> str:
        return received.get(n) if received is not None else ""

    fields = [segment, d.encoding_characters, get(5), get(6), get(3), get(4), timestamp(), "", "", ""]
    fields += [control_id, get(11)]
    return _segment(d, fields)


def _segment(d: er7.Delimiters, fields: list[str]) -> bytes:
    # fields[1] is the encoding characters (the field separator itself is implied between [0] and [1]).
    while len(fields) > 2 and fields[-1] == "":
        fields.pop()
    if fields[0] in ("BTS", "FTS"):
        text = d.field.join(fields)
    else:
        text = fields[0] + d.field + d.field.join(fields[1:])
    return (text + "\r").encode("latin-1", "replace")
