"""Bytes → text by MSH-18 (HL7 table 0211), with a per-sender default when MSH-18 is empty.

The MSH segment itself is read as Latin-1 first: that maps every byte to one character, so MSH-18 can be found
before the whole message is decoded, and for ASCII, UTF-8 and the single-byte charsets the field separators it
finds are the message's. Not so for a double-byte charset, whose second byte may be any ASCII byte from 0x40 on:
``|`` (院 in Big5 is B0 7C, 億 in GBK 83 7C), ``^``, ``~``. A hospital name in MSH-4 in such a charset then
shifts the fields, and MSH-18 is read from the wrong one (:func:`declared_charset` reads it again, skipping the
second byte of each double-byte character, and keeps the reading that the charset it names confirms).
"""

from __future__ import annotations

import codecs
import re

from hub.config import Settings
from hub.errors import Hl7ParseError

UTF8_BOM = b"\xef\xbb\xbf"

# HL7 table 0211 values and the spellings Chinese HIS vendors actually send, to Python codecs.
_CHARSETS: dict[str, str] = {
    "ASCII": "ascii",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
    "UTF8": "utf-8",
    "UNICODE": "utf-8",
    "UNICODE UTF-16": "utf-16",
    "UNICODE UTF-32": "utf-32",
    "8859/1": "iso8859-1",
    "8859/2": "iso8859-2",
    "8859/3": "iso8859-3",
    "8859/4": "iso8859-4",
    "8859/5": "iso8859-5",
    "8859/6": "iso8859-6",
    "8859/7": "iso8859-7",
    "8859/8": "iso8859-8",
    "8859/9": "iso8859-9",
    "8859/15": "iso8859-15",
    "ISO-8859-1": "iso8859-1",
    "LATIN1": "iso8859-1",
    "GB 18030-2000": "gb18030",
    "GB18030": "gb18030",
    "GB 18030": "gb18030",
    "GB18030-2000": "gb18030",
    "GB18030-2005": "gb18030",
    "GB 18030-2005": "gb18030",
    "GB18030-2022": "gb18030",
    # GBK and GB 2312 are subsets of GB 18030: decode them with the superset, so that a stray
    # extension character from a sender that says "GBK" is not an error.
    "GBK": "gb18030",
    "CP936": "gb18030",
    "GB2312": "gb18030",
    "GB 2312": "gb18030",
    "GB_2312-80": "gb18030",
    "ISO IR58": "gb18030",
    "ISO IR14": "shift_jis",
    "ISO IR87": "iso2022_jp",
    "ISO IR159": "iso2022_jp",
    "KS X 1001": "euc_kr",
    "CNS 11643-1992": "big5",
    "BIG-5": "big5",
    "BIG5": "big5",
}


# What the non-ASCII text of a Chinese message is made of: CJK ideographs (extension A, the basic block, the
# compatibility block, the supplementary planes), CJK and full-width punctuation, and the symbols Chinese text
# uses (· in 阿卜杜·热合曼, ° ± × µ, ℃, ↑ ↓ of a result flag, ①, — and curly quotes).
_CHINESE_TEXT = re.compile(
    "[\u00b0-\u00b7\u00d7\u2000-\u206f\u2100-\u21ff\u2460-\u24ff\u3000-\u303f\u3400-\u9fff"
    "\uf900-\ufaff\uff00-\uffef\U00020000-\U0003134f]"
)
_IDEOGRAPH = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")


def _utf8_chinese(raw: bytes) -> str | None:
    """The text of bytes that are UTF-8 Chinese text (at least one ideograph, every non-ASCII character one that
    Chinese text uses), else None.

    A GBK or GB 18030 text is almost never such bytes: a GBK character read as UTF-8 is one Latin-1 letter (路 is
    ``·``, 卢 ``¬``) or no UTF-8 at all, and three ideographs in a row would have to line up as UTF-8 sequences.
    """
    text = None if raw.isascii() else _decoded(raw, "utf-8")
    if text is None:
        return None
    others = [c for c in text if not c.isascii()]
    if not _IDEOGRAPH.search(text) or not all(_CHINESE_TEXT.match(c) for c in others):
        return None
    return text


def _decoded(raw: bytes, codec: str) -> str | None:
    """The bytes as text in ``codec``, or None when they are not valid in it."""
    try:
        return raw.decode(codec)
    except UnicodeDecodeError:
        return None


def _squeeze(name: str) -> str:
    return re.sub(r"[\s_-]+", "", name)


_SQUEEZED = {_squeeze(name): codec for name, codec in _CHARSETS.items()}


def codec_for(name: str) -> str:
    """The Python codec for an MSH-18 value or a configured charset name.

    Raises:
        Hl7ParseError: the name is not a known character set (HL7 error 103, table value not found).
    """
    key = name.strip().upper()
    if key in _CHARSETS:
        return _CHARSETS[key]
    # the same names spelled with dashes or underscores for spaces, or without (GB-18030, GB_2312, UNICODE_UTF-8)
    squeezed = _squeeze(key)
    if squeezed in _SQUEEZED:
        return _SQUEEZED[squeezed]
    try:
        return codecs.lookup(key).name
    except LookupError:
        raise Hl7ParseError(f"unknown character set {name!r} in MSH-18", hl7_code="103", location="MSH^1^18") from None


def sender_charset(settings: Settings, application: str, facility: str) -> str:
    """The configured charset of a sender whose MSH-18 is empty, named by MSH-3 and MSH-4 as read in Latin-1.

    The sender writes its name in its own charset (新疆医院 in GBK or UTF-8, 港島醫院 in Big5), and the
    configuration spells it as text: the Latin-1 reading of its bytes never matches a name outside ASCII. The
    names are read in each configured charset, then UTF-8 and GB 18030, until one matches a configured sender
    (:meth:`Settings.configured_charset`).

    Args:
        settings: ``HUB_SENDER_CHARSETS`` and ``HUB_DEFAULT_CHARSET``.
        application: MSH-3 (or its namespace id) read as Latin-1.
        facility: MSH-4 (or its namespace id) read as Latin-1.

    Returns:
        The configured charset name, else the default charset.
    """
    app_bytes, facility_bytes = application.encode("latin-1"), facility.encode("latin-1")
    for name in dict.fromkeys([*settings.sender_charsets.values(), "utf-8", "gb18030"]):
        try:
            codec = codec_for(name)
            app, fac = app_bytes.decode(codec), facility_bytes.decode(codec)
        except (Hl7ParseError, UnicodeDecodeError):
            continue
        found = settings.configured_charset(app, fac)
        if found:
            return found
    return settings.default_charset


def read_msh_fields(raw: bytes) -> list[str]:
    """MSH fields as Latin-1 text, numbered as in the standard (``[0]`` is ``MSH``, ``[1]`` MSH-1 …).

    Raises:
        Hl7ParseError: the bytes do not start with an MSH segment.
    """
    line_bytes = _msh_line(raw)
    if len(line_bytes) < 8 or line_bytes[:3] not in (b"MSH", b"BHS", b"FHS"):
        raise Hl7ParseError("the message does not start with an MSH segment", hl7_code="100", location="MSH^1")
    line = line_bytes.decode("latin-1")
    fs = line[3]
    fields = line.split(fs)
    fields.insert(1, fs)
    return fields


# Codecs whose characters of two bytes may have an ASCII byte (0x40 and up) second.
_ASCII_SECOND_BYTE = frozenset({"gb18030", "big5", "shift_jis"})


def _msh_line(raw: bytes) -> bytes:
    if raw.startswith(UTF8_BOM):
        raw = raw[3:]
    raw = raw.lstrip(b"\r\n\t \x0b")
    end = len(raw)
    for term in (b"\r", b"\n"):
        pos = raw.find(term)
        if pos != -1:
            end = min(end, pos)
    return raw[:end]


def _first_repetition_of_18(fields: list[str]) -> str:
    """MSH-18's first repetition of MSH fields numbered as the standard numbers them."""
    repetition = fields[2][1] if len(fields) > 2 and len(fields[2]) > 1 else "~"
    return fields[18].split(repetition)[0].strip() if len(fields) > 18 else ""


def _double_byte_fields(line: bytes) -> list[str]:
    """The MSH line split at field separators that are not the second byte of a double-byte character (a byte from
    0x81 on starts one), as Latin-1 text, numbered as :func:`read_msh_fields` numbers them."""
    fs = line[3]
    fields: list[str] = []
    start, i = 0, 0
    while i < len(line):
        byte = line[i]
        if byte >= 0x81:
            i += 2
            continue
        if byte == fs:
            fields.append(line[start:i].decode("latin-1"))
            start = i + 1
        i += 1
    fields.append(line[start:].decode("latin-1"))
    fields.insert(1, chr(fs))
    return fields


def declared_charset(latin: list[str]) -> str:
    """MSH-18's first repetition, as the sender wrote it ("" when empty), from the MSH fields read in Latin-1
    (:func:`read_msh_fields`, which the caller has read already).

    Their MSH-18 is taken, unless the MSH line holds bytes outside ASCII and that reading does not name a charset
    whose own decoding of the line puts the same name in MSH-18: then the line is read again with double-byte
    characters kept whole, and that reading is taken when the charset it names confirms it (a Big5 院 in MSH-4 no
    longer makes MSH-17's country code the charset).
    """
    first = _first_repetition_of_18(latin)
    text = latin[0] + latin[1] + latin[1].join(latin[2:])  # the line as read: Latin-1 gives back its bytes
    if text.isascii():
        return first
    line = text.encode("latin-1")
    for name in dict.fromkeys((first, _first_repetition_of_18(_double_byte_fields(line)))):
        if not name:
            continue
        try:
            codec = codec_for(name)
        except Hl7ParseError:
            continue
        if codec not in _ASCII_SECOND_BYTE:
            if name == first:
                return first  # one byte a character, or UTF-8's: the Latin-1 separators are the message's
            continue
        try:
            text = line.decode(codec)
        except UnicodeDecodeError:
            continue
        fields = text.split(text[3])
        fields.insert(1, text[3])
        if _first_repetition_of_18(fields) == name:
            return name
    return first


def decode(raw: bytes, msh18: str, fallback: str) -> tuple[str, str]:
    """Decode a whole message.

    A message said to be GBK or GB 18030 whose bytes are UTF-8 Chinese text is read as UTF-8 (codec ``utf-8``), and
    so is one said to be in an ISO 8859 charset whose bytes beyond ASCII are valid UTF-8.

    Args:
        raw: the message bytes as received (a UTF-8 BOM is dropped).
        msh18: MSH-18's first repetition, possibly empty.
        fallback: the sender's configured charset for an empty MSH-18.

    Returns:
        ``(text, codec)``.

    Raises:
        Hl7ParseError: an unknown charset, or bytes that are not valid in it (HL7 error 102).
    """
    if raw.startswith(UTF8_BOM):
        raw = raw[3:]
        if not msh18:
            msh18 = "UNICODE UTF-8"
    codec = codec_for(msh18 or fallback)
    if codec in ("gb18030", "big5"):
        # A GBK (or Big5) message re-encoded in UTF-8 on its way (an interface engine) that still says GBK in
        # MSH-18, or comes from a sender configured GBK: read in GB 18030 its Chinese would be mojibake (欧阳 →
        # 娆ч槼) without any decoding error (in Big5, an error or mojibake). UTF-8 Chinese text is told from either
        # by its bytes (_utf8_chinese).
        text = _utf8_chinese(raw)
        if text is not None:
            return text, "utf-8"
    elif codec.startswith("iso8859") and not raw.isascii():
        # A single-byte charset reads any bytes without an error, so UTF-8 sent under it (a sender that says
        # 8859/1 and writes 张 or é in UTF-8) would be mojibake (å¼ , Ã©). Bytes that are valid UTF-8 beyond ASCII
        # are read as UTF-8: text in a single-byte charset almost never is (a letter from 0xC2 on must be followed
        # by one from 0x80 to 0xBF, and every byte from 0x80 on must be part of such a sequence).
        text = _decoded(raw, "utf-8")
        if text is not None:
            return text, "utf-8"
    try:
        return raw.decode(codec), codec
    except UnicodeDecodeError as exc:
        # the one other reading worth a try: ASCII declared, bytes beyond it sent (UTF-8 reads every ASCII message
        # the same, and most senders that say ASCII, the v2 default, send UTF-8 names); no declared charset and not
        # UTF-8 (GB 18030, the commonest other encoding of Chinese HIS systems). What fails it too is refused.
        second = "utf-8" if codec == "ascii" else "gb18030" if not msh18 and codec == "utf-8" else None
        if second is not None and (text := _decoded(raw, second)) is not None:
            return text, second
        raise Hl7ParseError(
            f"the message is not valid {msh18 or fallback} text (byte {exc.start})",
            hl7_code="102",
            location="MSH^1^18",
        ) from None
