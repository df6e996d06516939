"""Hypothesis properties of the ER7 tokenizer: render → parse gives back every leaf; any text either parses or
raises Hl7ParseError; escape and unescape are inverse."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.errors import Hl7ParseError
from hub.hl7 import er7

# Delimiter sets: the standard one, and unusual but legal ones (distinct, not alphanumeric, not whitespace).
DELIMITERS = st.sampled_from(
    [
        er7.Delimiters(),
        er7.Delimiters("|", "^", "~", "\\", "&", "#"),
        er7.Delimiters("#", "$", "*", "!", "%"),
        er7.Delimiters("|", ":", "@", "/", ";"),
    ]
)
SEGMENT_IDS = st.sampled_from(["PID", "PV1", "OBX", "NTE", "ZPI", "Z01", "EVN", "NK1"])
# Leaf text: anything a sender may mean, including delimiters, escapes, line breaks and CJK.
LEAF = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("|^~\\&#$*!%:@/;\r\n \t") + ["张", "三", "é", "\u3000"]),
        st.characters(blacklist_categories=("Cs",)),
    ),
    max_size=8,
)
# field → repetitions → components → subcomponents
FIELD = st.lists(st.lists(st.lists(LEAF, min_size=1, max_size=3), min_size=1, max_size=3), min_size=1, max_size=3)


def render_field(field: list[list[list[str]]], d: er7.Delimiters) -> str:
    return d.repetition.join(
        d.component.join(d.subcomponent.join(er7.escape(leaf, d) for leaf in comp) for comp in rep) for rep in field
    )


@st.composite
def messages(draw: st.DrawFn) -> tuple[er7.Delimiters, list[tuple[str, list[list[list[list[str]]]]]], str]:
    d = draw(DELIMITERS)
    body = draw(st.lists(st.tuples(SEGMENT_IDS, st.lists(FIELD, min_size=1, max_size=5)), min_size=1, max_size=4))
    header = d.field.join(
        [
            "MSH",
            d.encoding_characters,
            "APP",
            "FAC",
            "HUB",
            "CITY",
            "20260101",
            "",
            f"ADT{d.component}A01",
            "1",
            "P",
            "2.5",
        ]
    )
    lines = [header] + [d.field.join([name, *(render_field(f, d) for f in fields)]) for name, fields in body]
    terminator = draw(st.sampled_from(["\r", "\n", "\r\n"]))
    return d, body, terminator.join(lines) + terminator


@settings(max_examples=300, deadline=None)
@given(messages())
def test_parse_of_render_gives_back_every_leaf(case):
    d, body, text = case
    message = er7.parse(text)
    assert message.delimiters == d
    assert [s.name for s in message.segments] == ["MSH", *(name for name, _ in body)]
    assert message.get(message.msh, 9, 2) == "A01"
    for seg, (_name, fields) in zip(message.segments[1:], body, strict=True):
        assert len(seg) == len(fields)
        for number, field in enumerate(fields, start=1):
            for r, rep in enumerate(field):
                for c, comp in enumerate(rep, start=1):
                    for s, leaf in enumerate(comp, start=1):
                        assert message.get(seg, number, c, s, r) == leaf
    # And the wire form is stable: rendering what was parsed parses to the same text.
    assert er7.parse(message.to_er7()).to_er7() == message.to_er7()


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300))
def test_any_text_parses_or_raises_hl7_parse_error(text):
    try:
        message = er7.parse(text)
    except Hl7ParseError as exc:
        assert exc.location and exc.location.startswith("MSH")
        return
    # Whatever was accepted can be read everywhere without surprises.
    for seg in message.segments:
        for n in range(0, len(seg) + 2):
            for c in range(0, 3):
                assert isinstance(message.get(seg, n, c, 1 if c else 0), str)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_as_latin1_parse_or_raise_hl7_parse_error(data):
    try:
        er7.parse("MSH" + data.decode("latin-1"))
    except Hl7ParseError:
        pass


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))), DELIMITERS)
def test_escape_then_unescape_is_the_identity(text, d):
    escaped = er7.escape(text, d)
    for delimiter in (d.field, d.component, d.repetition, d.subcomponent, "\r", "\n"):
        assert delimiter not in escaped
    assert er7.unescape(escaped, d) == text


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), DELIMITERS)
def test_unescape_never_fails(text, d):
    assert isinstance(er7.unescape(text, d), str)


@pytest.mark.parametrize(
    ("escaped", "text"),
    [
        ("line one\\.br\\line two", "line one\nline two"),
        ("para one\\.sp\\para two", "para one\npara two"),  # .sp: end the line (one vertical space)
        ("title\\.sp 2\\body", "title\n\nbody"),
        ("WBC\\.sk 3\\10", "WBC   10"),  # .sk n: n spaces to the right
        ("\\.ce\\centred", "\ncentred"),
        ("\\.in 4\\indented \\H\\bold\\N\\ text", "indented bold text"),  # indent and highlighting: not text
        ("odd \\.spx\\ one", "odd  one"),  # not a formatting command with a number: dropped, never an error
    ],
)
def test_formatted_text_becomes_plain_text(escaped, text):
    # v2.5.1 §2.7.6: FT formatting commands, as the report text of a lab or an imaging department uses them
    assert er7.unescape(escaped) == text
