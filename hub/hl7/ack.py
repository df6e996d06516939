"""ACK messages (HL7 v2.5.1 §2.9 and §2.14.1), written directly as ER7 text.

hl7apy builds an ACK at about 140 per second per core on this machine (measured: ``Message("ACK")``, eight
fields set, ``to_er7()``), which would cap ingestion far below its 3,000 msg/s target; this small writer
takes a few microseconds. The tests validate every kind of ACK it writes against hl7apy's structure
definitions with strict validation, for each HL7 version hl7apy knows.

What goes where, by version of the acknowledged message:

* MSH: sender and receiver swapped (MSH-3/4 ← MSH-5/6 and back), MSH-7 now, MSH-9 ``ACK^<event>^ACK``
  (``ACK^<event>`` before 2.3.1), MSH-10 a control id of its own, MSH-11 and MSH-12.1
  echoed, MSH-18 echoed (2.3 and later), the message's own delimiters.
* MSA-1 the code, MSA-2 the acknowledged MSH-10; MSA-3 a text for versions before 2.7 (withdrawn there).
* ERR for an error: 2.1 carries the code alone in ERR-1; 2.2 to 2.4 carry ERR-1
  (segment^sequence^field^code&text&HL70357); 2.5 and later ERR-2 location, ERR-3 the table 0357 code,
  ERR-4 severity ``E`` and ERR-8 the text.

Acknowledgment modes: original mode (MSH-15 and MSH-16 both empty) answers AA/AE/AR. Enhanced mode answers
the accept acknowledgment CA/CE/CR, and only when MSH-15 asks for it: AL always, NE never, ER only for
CE/CR, SU only for CA; an empty MSH-15 in enhanced mode is taken as AL. An incoming ACK in original mode is
stored but not answered (acknowledgments are not acknowledged). The application acknowledgment that MSH-16
asks for belongs to the conversion, not to this receipt.
"""

from __future__ import annotations

import itertools
import os
import time
from datetime import datetime
from typing import Literal

from hub.errors import Hl7Error
from hub.hl7 import er7
from hub.hl7.header import MessageHeader, looks_like_version

DEFAULT_VERSION = "2.5.1"

# HL7 table 0357, the texts that go with the codes in ERR-3 / ERR-1.4.
ERROR_TEXTS: dict[str, str] = {
    "0": "Message accepted",
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "104": "Value too long",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "202": "Unsupported processing id",
    "203": "Unsupported version id",
    "204": "Unknown key identifier",
    "205": "Duplicate key identifier",
    "206": "Application record locked",
    "207": "Application internal error",
}

Outcome = Literal["accept", "error", "reject"]
_ORIGINAL: dict[str, str] = {"accept": "AA", "error": "AE", "reject": "AR"}
_ENHANCED: dict[str, str] = {"accept": "CA", "error": "CE", "reject": "CR"}

# Control ids of the hub's ACKs: a random per-process prefix and a counter, at most 20 characters (the ST
# length of MSH-10 before 2.7), unique across processes and restarts in practice.
_CONTROL_PREFIX = "H" + os.urandom(4).hex().upper()
_control_counter = itertools.count(1)


def next_control_id() -> str:
    return f"{_CONTROL_PREFIX}{next(_control_counter)}"


def version_tuple(version: str) -> tuple[int, ...]:
    """``"2.5.1"`` → ``(2, 5, 1)``: the version whose ACK layout to follow.

    Anything that is not a v2 version (unreadable, or outside 2.1 … 2.x, like ``1.0`` or ``3.0``) counts as
    the default version, so an ACK rejecting such a message still has a layout its sender can read.
    """
    if not looks_like_version(version):
        version = DEFAULT_VERSION
    parts = tuple(int(p) for p in version.split("."))
    if not (2, 1) <= parts < (3,):
        parts = tuple(int(p) for p in DEFAULT_VERSION.split("."))
    return parts


def ack_code(header: MessageHeader | None, outcome: Outcome) -> str:
    """MSA-1 for an outcome in the message's acknowledgment mode (AA/AE/AR or CA/CE/CR)."""
    table = _ENHANCED if header is not None and header.enhanced_mode else _ORIGINAL
    return table[outcome]


def ack_code_for_error(header: MessageHeader | None, error: Hl7Error) -> str:
    """MSA-1 for an HL7 error: its own ``ack_code`` (AE/AR), or CE/CR in enhanced mode."""
    return ack_code(header, "reject" if error.ack_code == "AR" else "error")


def accept_ack_due(header: MessageHeader | None, code: str) -> bool:
    """Whether an accept acknowledgment with MSA-1 ``code`` is to be sent (MSH-15, table 0155).

    Original mode always answers, except an ACK message: acknowledgments are not themselves acknowledged
    (a deferred application ACK that wants a commit ACK says so in its MSH-15). In enhanced mode: AL (or
    empty) always, NE never, ER only on CE/CR, SU only on CA. Over MLLP this means a message with
    MSH-15 = NE gets no reply frame at all, as the standard says; a sender that wants one must not send NE.
    """
    if header is None:
        return True
    if not header.enhanced_mode:
        return header.message_code != "ACK"
    condition = header.accept_ack_type
    if condition == "NE":
        return False
    if condition == "ER":
        return code != "CA"
    if condition == "SU":
        return code == "CA"
    return True


_ts_cache: tuple[int, str] = (0, "")


def _timestamp() -> str:
    """Now, to the second, with the local UTC offset (formatted once per second: it is on the hot path)."""
    global _ts_cache
    now = time.time()
    second = int(now)
    cached_second, text = _ts_cache
    if second != cached_second:
        text = datetime.fromtimestamp(second).astimezone().strftime("%Y%m%d%H%M%S%z")
        _ts_cache = (second, text)
    return text


def timestamp() -> str:
    """Now, as an HL7 timestamp to the second with the local offset (MSH-7, BHS-7, FHS-7 of the hub's answers)."""
    return _timestamp()


def _msh7(timestamp: str | None, version: tuple[int, ...], cs: str) -> str:
    ts = timestamp or _timestamp()
    # 2.1's TS carries a required degree of precision (S: to the second) as its second component.
    return f"{ts}{cs}S" if version < (2, 2) else ts


def _msh9(event: str, version: tuple[int, ...]) -> str:
    if version < (2, 3, 1):
        return f"ACK^{event}" if event else "ACK"
    return f"ACK^{event}^ACK"


def _location_components(location: str | None) -> list[str]:
    parts = (location or "MSH^1").split("^")
    if len(parts) < 2 or not parts[1]:
        parts = [parts[0] or "MSH", "1", *parts[2:]]
    return parts


def build_ack(
    header: MessageHeader | None,
    ack_code: str,
    *,
    error: Hl7Error | None = None,
    text: str = "",
    control_id: str | None = None,
    timestamp: str | None = None,
) -> str:
    """An ACK for a received message, as ER7 text with ``\\r`` segment terminators.

    Args:
        header: the received message's header, or ``None`` when it could not be read at all (the ACK
            then uses the default delimiters and version and an empty MSA-2).
        ack_code: MSA-1 (AA, AE, AR, CA, CE, CR).
        error: the error to report in an ERR segment (its ``hl7_code``, ``location`` and message).
        text: a text for MSA-3 (before 2.7) when there is no error; the error's message otherwise.
        control_id: MSH-10 of the ACK (default: a new unique one).
        timestamp: MSH-7 (default: now, with the local offset).

    Returns:
        The ACK message text.
    """
    d = header.delimiters if header is not None else er7.DEFAULT_DELIMITERS
    version_text = header.version if header is not None and looks_like_version(header.version) else DEFAULT_VERSION
    version = version_tuple(version_text)
    fs, cs, ss = d.field, d.component, d.subcomponent
    message = text or (error.message if error is not None else "")

    def esc(value: str) -> str:
        return er7.escape(value, d)

    if header is not None:
        msh = [
            "MSH",
            d.encoding_characters,
            header.receiving_application,
            header.receiving_facility,
            header.sending_application,
            header.sending_facility,
            _msh7(timestamp, version, cs),
            "",
            _msh9(esc(header.trigger_event), version).replace("^", cs),
            control_id or next_control_id(),
            header.processing_id or "P",
            version_text,
        ]
        if header.charset and version >= (2, 3):  # MSH-18 exists from 2.3 on
            msh.extend(["", "", "", "", "", esc(header.charset)])
        control = header.control_id
    else:
        msh = ["MSH", d.encoding_characters, "", "", "", "", _msh7(timestamp, version, cs), "", _msh9("", version)]
        msh += [control_id or next_control_id(), "P", version_text]
        control = ""
    msa = ["MSA", ack_code, control]
    if message and version < (2, 7):
        msa.append(esc(message))
    segments = [fs.join(msh), fs.join(msa)]
    if error is not None:
        code = error.hl7_code
        code_text = esc(ERROR_TEXTS.get(code, ""))
        loc = [esc(p) for p in _location_components(error.location)]
        if version < (2, 2):
            # 2.1: ERR-1 is a plain ID; the code alone.
            segments.append(fs.join(["ERR", code]))
        elif version < (2, 5):
            # ERR-1 (ELD): segment id ^ sequence ^ field position ^ code identifying error (CE, subcomponents).
            eld = [*loc[:3], *([""] * (3 - len(loc[:3])))]
            segments.append(fs.join(["ERR", cs.join([*eld, ss.join([code, code_text, "HL70357"])])]))
        else:
            err = ["ERR", "", cs.join(loc[:6]), cs.join([code, code_text, "HL70357"]), "E", "", "", "", esc(message)]
            segments.append(fs.join(err))
    return "\r".join(segments) + "\r"
