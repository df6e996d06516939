"""The messages of the role tests (ROL, PRT of a visit and of the patient), built from test_conversion_semantics's
segments: the patient 张三 (rich_pid) admitted to 内科 301 (pv1) at the hospital SZRMYY.

* :func:`a01`, :func:`a08`: v2.5.1 ADT_A01 messages, ``PD1`` (optional) before the ``PV1``, the role lines after it;
* :func:`bar`: a v2.8 BAR (``PRT`` after the ``PV1``: the visit's participations);
* :func:`adt_v28`: a v2.8 ADT_A01 whose ``PRT`` lines come before the ``PV1`` (the patient's own doctor, ``PP``).
"""

from __future__ import annotations

from tests.test_conversion_semantics import HOSPITAL, message, msh, pv1, rich_pid


def a01(*segments: str, pv1_segment: str | None = None, pd1: str | None = None, control: str = "C1") -> bytes:
    """An A01; ``pv1_segment`` in place of the default PV1, ``pd1`` a PD1 before it."""
    return _adt("A01", control, segments, pv1_segment, pd1)


def a08(control: str, *segments: str, pv1_segment: str | None = None, pd1: str | None = None) -> bytes:
    """An A08 (the ADT_A01 structure), as :func:`a01`."""
    return _adt("A08", control, segments, pv1_segment, pd1)


def bar(control: str, event: str, *segments: str) -> bytes:
    """A v2.8 BAR of ``event`` (P01, P05) with the segments after the PV1."""
    return message(
        f"MSH|^~\\&|HIS|{HOSPITAL}|HUB|CITY|20260315083000||BAR^{event}^BAR_{event}|{control}|P|2.8",
        f"EVN|{event}|20260315083000",
        rich_pid(),
        pv1(),
        *segments,
    )


def adt_v28(control: str, event: str, *segments: str) -> bytes:
    """A v2.8 ADT_A01 of ``event`` with the segments between the PID and the PV1."""
    return message(
        f"MSH|^~\\&|HIS|{HOSPITAL}|HUB|CITY|20260315083000||ADT^{event}^ADT_A01|{control}|P|2.8",
        f"EVN|{event}|20260315083000",
        rich_pid(),
        *segments,
        pv1(),
    )


def _adt(event: str, control: str, segments: tuple[str, ...], pv1_segment: str | None, pd1: str | None) -> bytes:
    head = [msh(event, control, "ADT_A01"), f"EVN|{event}", rich_pid()]
    return message(*head, *([pd1] if pd1 else []), pv1_segment or pv1(), *segments)
