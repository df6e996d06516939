"""The message header (MSH) of a received message: what ingestion, ACKs and dedup need, read fast.

Only the MSH line is tokenised here; the rest of the message is decoded (to prove it is valid text in its
charset) but left for the converter. Values that are echoed into the ACK (MSH-3..6, MSH-10, MSH-11) are kept
as the raw ER7 field text, escapes included, so that the ACK, which uses the same delimiters, repeats them
byte for byte. Values the hub interprets (MSH-9, MSH-12, MSH-15/16, MSH-18) are trimmed plain strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hub.config import Settings
from hub.errors import Hl7ParseError, Hl7Rejected
from hub.hl7 import er7
from hub.hl7.charset import UTF8_BOM, declared_charset, decode, read_msh_fields, sender_charset

# Column sizes of the dedup key in ``inbox`` (HL7 v2.7 lengths of HD and ST): longer values are rejected
# rather than truncated, because a truncated key could merge two different messages.
MAX_SENDER_CHARS = 227
MAX_CONTROL_ID_CHARS = 199

_VERSION_RE = re.compile(r"^\d+(\.\d+)*$")

# HL7 table 0354 (v2.5.1): trigger events that share another event's message structure. Events not listed
# here use the structure named after themselves (ORU^R01 → ORU_R01).
_SHARED_STRUCTURES: dict[str, dict[str, str]] = {
    "ADT": {
        **dict.fromkeys(("A04", "A08", "A13"), "ADT_A01"),
        **dict.fromkeys(("A14", "A28", "A31"), "ADT_A05"),
        "A07": "ADT_A06",
        **dict.fromkeys(("A10", "A11"), "ADT_A09"),
        **dict.fromkeys(("A22", "A23", "A25", "A26", "A27", "A29", "A32", "A33"), "ADT_A21"),
        **dict.fromkeys(("A34", "A35", "A36", "A46", "A47", "A48", "A49"), "ADT_A30"),
        **dict.fromkeys(("A40", "A41", "A42"), "ADT_A39"),
        "A44": "ADT_A43",
        "A51": "ADT_A50",
        **dict.fromkeys(("A53", "A55"), "ADT_A52"),
        "A62": "ADT_A61",
    },
    "ORU": dict.fromkeys(("R31", "R32"), "ORU_R30"),
    "SIU": dict.fromkeys([f"S{n}" for n in range(13, 27)], "SIU_S12"),
    "MDM": {
        **dict.fromkeys(("T03", "T05", "T07", "T09", "T11"), "MDM_T01"),
        **dict.fromkeys(("T04", "T06", "T08", "T10"), "MDM_T02"),
    },
    "PPR": dict.fromkeys(("PC2", "PC3"), "PPR_PC1"),
    "REF": dict.fromkeys(("I13", "I14", "I15"), "REF_I12"),
}


def derive_structure(message_code: str, trigger_event: str) -> str:
    """The message structure (MSH-9.3) for a type and event, by HL7 table 0354 (``ADT``, ``A04`` → ``ADT_A01``)."""
    if not message_code:
        return ""
    if message_code == "ACK":
        return "ACK"
    if not trigger_event:
        return message_code
    shared = _SHARED_STRUCTURES.get(message_code)
    if shared and trigger_event in shared:
        return shared[trigger_event]
    return f"{message_code}_{trigger_event}"


@dataclass(frozen=True, slots=True)
class MessageHeader:
    """What the hub reads from a message's MSH segment."""

    sending_application: str  # MSH-3, raw ER7 text ("" when empty); with MSH-4 and MSH-10 the dedup key
    sending_facility: str  # MSH-4
    receiving_application: str  # MSH-5
    receiving_facility: str  # MSH-6
    message_code: str  # MSH-9.1, e.g. ADT
    trigger_event: str  # MSH-9.2, e.g. A01
    structure: str  # MSH-9.3, or derived from code and event by table 0354
    control_id: str  # MSH-10, raw ER7 text
    processing_id: str  # MSH-11, raw ER7 text (echoed in the ACK)
    version: str  # MSH-12.1
    accept_ack_type: str  # MSH-15 (AL, NE, ER, SU or "")
    application_ack_type: str  # MSH-16
    charset: str  # MSH-18, first repetition ("" when empty)
    delimiters: er7.Delimiters
    codec: str = "utf-8"  # the Python codec the message was decoded with (MSH-18 or the sender's default)

    @property
    def message_type(self) -> str:
        """``MSH-9.1^MSH-9.2`` (``ADT^A01``), or the code alone when there is no event."""
        return f"{self.message_code}^{self.trigger_event}" if self.trigger_event else self.message_code

    @property
    def enhanced_mode(self) -> bool:
        """True when MSH-15 or MSH-16 is valued: the enhanced acknowledgment rules apply (2.5.1 §2.9.3)."""
        return bool(self.accept_ack_type or self.application_ack_type)

    @property
    def dedup_key(self) -> tuple[str, str, str]:
        return (self.sending_application, self.sending_facility, self.control_id)


def _hd_name(value: str, d: er7.Delimiters) -> str:
    """The namespace id of an HD field (``HIS^1.2.3^ISO`` → ``HIS``), or the whole value when it has none."""
    first = value.split(d.component, 1)[0]
    return first or value


def _header_from_fields(fields: list[str], d: er7.Delimiters, codec: str) -> MessageHeader:
    def field(n: int) -> str:
        return fields[n] if n < len(fields) else ""

    def first_component(value: str) -> str:
        return value.split(d.repetition, 1)[0].split(d.component, 1)[0].strip()

    msh9 = field(9).split(d.repetition, 1)[0].split(d.component)
    code = msh9[0].strip().upper()
    event = msh9[1].strip().upper() if len(msh9) > 1 else ""
    structure = msh9[2].strip().upper() if len(msh9) > 2 else ""
    return MessageHeader(
        sending_application=field(3),
        sending_facility=field(4),
        receiving_application=field(5),
        receiving_facility=field(6),
        message_code=code,
        trigger_event=event,
        structure=structure or derive_structure(code, event),
        control_id=field(10).strip(),
        processing_id=field(11),
        version=first_component(field(12)),
        accept_ack_type=first_component(field(15)).upper(),
        application_ack_type=first_component(field(16)).upper(),
        charset=field(18).split(d.repetition, 1)[0].strip(),
        delimiters=d,
        codec=codec,
    )


def _msh_line(text: str) -> str:
    if text.startswith("\ufeff"):
        text = text[1:]
    text = text.lstrip("\r\n\t \x0b")
    end = len(text)
    for term in ("\r", "\n"):
        pos = text.find(term)
        if pos != -1 and pos < end:
            end = pos
    return text[:end]


def parse_header(raw: bytes, settings: Settings) -> tuple[MessageHeader, str]:
    """Read MSH and decode the whole message, without judging the values.

    The MSH line is first read as Latin-1 (one character per byte, so separators are found whatever the
    charset) to find MSH-18 and the sender; then the message is decoded by MSH-18, or by the sender's
    configured default when MSH-18 is empty, and MSH is tokenised again from the decoded text.

    Raises:
        Hl7ParseError: no MSH segment, unusable encoding characters, an unknown charset or bytes that are
            not valid in it.
    """
    latin = read_msh_fields(raw)
    d = er7.read_delimiters(latin[0] + latin[1] + latin[1].join(latin[2:]))
    msh18 = declared_charset(latin)
    fallback = sender_charset(
        settings,
        _hd_name(latin[3] if len(latin) > 3 else "", d),
        _hd_name(latin[4] if len(latin) > 4 else "", d),
    )
    text, codec = decode(raw, msh18, fallback)
    line = _msh_line(text)
    fields = line.split(d.field)
    fields.insert(1, d.field)
    return _header_from_fields(fields, d, codec), text


def salvage_header(raw: bytes) -> MessageHeader | None:
    """A best-effort header for the ACK of a message whose bytes could not be decoded or read.

    The fields are the Latin-1 reading of the MSH bytes and the codec is Latin-1, so encoding the ACK
    with it repeats the sender's own bytes for MSH-3..6 and MSH-10. ``None`` when there is no MSH at all.
    """
    if raw.startswith(UTF8_BOM):
        raw = raw[3:]
    try:
        line = _msh_line(raw.decode("latin-1"))
        try:
            d = er7.read_delimiters(line)
        except Hl7ParseError:
            if not line.startswith("MSH") or len(line) < 4:
                return None
            # Unusable MSH-2: keep the field separator, assume the standard encoding characters.
            d = er7.Delimiters(field=line[3]) if not line[3].isalnum() else er7.DEFAULT_DELIMITERS
        fields = line.split(d.field)
        fields.insert(1, d.field)
        return _header_from_fields(fields, d, "latin-1")
    except (Hl7ParseError, IndexError, ValueError):
        return None


def check_header(header: MessageHeader, settings: Settings) -> None:
    """Judge a readable header against the standard's required fields and the hub's allow-lists.

    Raises:
        Hl7ParseError: MSH-9 or MSH-10 (or MSH-12) missing (HL7 error 101), a NUL character or an
            over-long sender or control id in the dedup key (102).
        Hl7Rejected: a message type (200), trigger event (201), version (203) or processing id (202) the hub
            does not accept.
    """
    if not header.message_code:
        raise Hl7ParseError("MSH-9 (message type) is missing", hl7_code="101", location="MSH^1^9")
    if not header.control_id:
        raise Hl7ParseError("MSH-10 (message control id) is missing", hl7_code="101", location="MSH^1^10")
    for n, value, limit in (
        (3, header.sending_application, MAX_SENDER_CHARS),
        (4, header.sending_facility, MAX_SENDER_CHARS),
        (10, header.control_id, MAX_CONTROL_ID_CHARS),
    ):
        if len(value) > limit:
            raise Hl7ParseError(f"MSH-{n} is longer than {limit} characters", hl7_code="102", location=f"MSH^1^{n}")
    for n, value in (
        (3, header.sending_application),
        (4, header.sending_facility),
        (5, header.receiving_application),
        (6, header.receiving_facility),
        (9, header.message_type),
        (10, header.control_id),
        (11, header.processing_id),
        (12, header.version),
    ):
        if "\x00" in value:
            raise Hl7ParseError(f"MSH-{n} contains a NUL character", hl7_code="102", location=f"MSH^1^{n}")
    allowed = settings.allowed_message_types
    code, event = header.message_code, header.trigger_event
    if code not in allowed:
        with_events = [t for t in allowed if t.startswith(code + "^")]
        if not with_events:
            raise Hl7Rejected(f"message type {code} is not accepted", hl7_code="200", location="MSH^1^9^1^1")
        if f"{code}^{event}" not in with_events:
            raise Hl7Rejected(f"trigger event {code}^{event} is not accepted", hl7_code="201", location="MSH^1^9^1^2")
    if not header.version:
        raise Hl7ParseError("MSH-12 (version id) is missing", hl7_code="101", location="MSH^1^12")
    if header.version not in settings.allowed_versions:
        raise Hl7Rejected(f"HL7 version {header.version} is not accepted", hl7_code="203", location="MSH^1^12")
    # MSH-11.1 (MSH-11.2, the processing mode, says nothing about it); an empty MSH-11 is let through
    processing = header.processing_id.split(header.delimiters.component, 1)[0].strip().upper()
    if processing and processing not in settings.allowed_processing_ids:
        raise Hl7Rejected(f"processing id {processing} is not accepted", hl7_code="202", location="MSH^1^11")


def check_single_message(text: str, header: MessageHeader) -> None:
    """Refuse a text that holds a second message (a second MSH segment), as a batch without its headers.

    An MLLP frame and an HTTP body carry one message (or one batch, FHS/BHS …). Two messages pasted into one
    would otherwise be acknowledged by the first one's MSH-10 alone, the second never answered, and the
    first stored only for its conversion to refuse it (the second one's PID, OBX … read as the first one's).

    Raises:
        Hl7ParseError: a segment ``MSH`` after the first (HL7 error 100, segment sequence error, at ``MSH^2``).
    """
    marker = "MSH" + header.delimiters.field
    start = text.find(marker) + len(marker)
    if text.find(f"\r{marker}", start) >= 0 or text.find(f"\n{marker}", start) >= 0:
        raise Hl7ParseError(
            "a second MSH segment: one message per frame or body (several go in a batch, BHS ... BTS)",
            hl7_code="100",
            location="MSH^2",
        )


def read_header(raw: bytes, settings: Settings) -> tuple[MessageHeader, str]:
    """Read and judge a message's header; return it with the decoded message text.

    Args:
        raw: the message bytes as received (no MLLP framing).
        settings: allow-lists and per-sender charsets.

    Returns:
        ``(header, text)``.

    Raises:
        Hl7ParseError: the MSH cannot be read or decoded, MSH-9/MSH-10 is missing, or a second MSH follows.
        Hl7Rejected: the message type, event or version is not accepted.
    """
    header, text = parse_header(raw, settings)
    check_header(header, settings)
    check_single_message(text, header)
    return header, text


def looks_like_version(value: str) -> bool:
    return bool(_VERSION_RE.match(value))
