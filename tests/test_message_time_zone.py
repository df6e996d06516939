"""MSH-7's offset is the message's default time zone (v2.5.1 §2.14.9.7: "If the time zone is specified, it will
be used throughout the message as the default time zone"): a timestamp sent without an offset is read in it,
unless the sender's zone is configured (HUB_SENDER_TIMEZONES, the operator's word for a sender whose clock says
otherwise); without either, the default zone (Asia/Shanghai). Through convert_bytes and the real pipeline.
"""

from __future__ import annotations

from hub.config import Settings
from hub.mapping import convert_bytes
from tests.mapping.conftest import one
from tests.test_conversion_semantics import (
    convert,
    ids,
    message,
    mpi,  # noqa: F401  (the fixture)
    pv1,
    read,
    rich_pid,
)


def adt(msh7: str, admit: str = "20260315083000") -> bytes:
    return message(
        f"MSH|^~\\&|HIS|SZRMYY|HUB|CITY|{msh7}||ADT^A01^ADT_A01|TZ1|P|2.5.1",
        "EVN|A01|20260315083000",
        rich_pid(),
        pv1(f44=admit),
    )


def test_a_time_without_offset_is_in_msh_7_s_offset(tmp_path):
    bundle = convert_bytes(adt("20260315083500-0500"), Settings(data_dir=tmp_path))
    assert one(bundle, "Encounter")["period"]["start"] == "2026-03-15T08:30:00-05:00"
    assert one(bundle, "Patient")["birthDate"] == "1980-01-01"  # a date stays a date, in any zone


def test_msh_7_s_offset_with_minutes_and_a_time_with_its_own_offset(tmp_path):
    settings = Settings(data_dir=tmp_path)
    bundle = convert_bytes(adt("202603150835+0545"), settings)
    assert one(bundle, "Encounter")["period"]["start"] == "2026-03-15T08:30:00+05:45"
    bundle = convert_bytes(adt("202603150835+0545", admit="20260315083000+0100"), settings)
    assert one(bundle, "Encounter")["period"]["start"] == "2026-03-15T08:30:00+01:00"


def test_without_an_offset_in_msh_7_the_default_zone(tmp_path):
    bundle = convert_bytes(adt("20260315083500"), Settings(data_dir=tmp_path))
    assert one(bundle, "Encounter")["period"]["start"] == "2026-03-15T08:30:00+08:00"
    bundle = convert_bytes(adt("20260315083500"), Settings(data_dir=tmp_path, default_timezone="Asia/Urumqi"))
    assert one(bundle, "Encounter")["period"]["start"] == "2026-03-15T08:30:00+06:00"


def test_an_unreadable_msh_7_offset_gives_the_default_zone(tmp_path):
    for msh7 in ("20260315083500+2500", "20260315083500+08", "2026031508350"):
        bundle = convert_bytes(adt(msh7), Settings(data_dir=tmp_path))
        assert one(bundle, "Encounter")["period"]["start"] == "2026-03-15T08:30:00+08:00", msh7


def test_the_sender_s_configured_zone_wins_over_msh_7(tmp_path):
    settings = Settings(data_dir=tmp_path, sender_timezones={"HIS": "Asia/Tokyo"})
    bundle = convert_bytes(adt("20260315083500+0000"), settings)
    assert one(bundle, "Encounter")["period"]["start"] == "2026-03-15T08:30:00+09:00"


def test_the_pipeline_reads_msh_7_s_offset_too(mpi, settings):  # noqa: F811
    raw = adt("20260315083500-0500")
    convert(mpi, settings, raw)
    assert read(mpi, "Encounter", ids(settings, raw)["Encounter"])["period"]["start"] == "2026-03-15T08:30:00-05:00"
