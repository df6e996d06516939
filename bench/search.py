"""Search benchmark: ``Observation?patient=X&code=http://loinc.org|Y&date=geYYYY-MM-DD`` over a large store.

Loads (once; a later run reuses the data) N Observations of P patient records with C LOINC codes and dates over
Y years into the hub's own tables — the ``resource`` rows and the search index rows that
``hub.fhir.indexer.extract`` makes for each, exactly what ``store.put`` would write (history rows and outbox
events aside) — by bulk ``COPY`` on PostgreSQL (secondary indexes dropped during the load and rebuilt after, as
``pg_restore`` does) or ``executemany`` on SQLite; and the master patient index of the patients (every record
under a master, ``--linked`` of them in pairs, as two hospitals' records of one person), so that each search
expands its patient as it does in production. Then, for random patients, codes and dates, it measures:

* the search through ``hub.fhir.store.search`` (index tables, MPI expansion, a page of 50 and its total):
  p50 / p95 / p99 over ``--queries`` queries;
* the same query answered by a plain JSON scan of the ``resource`` table (JSONB containment and ``->>`` on
  PostgreSQL, ``json_extract`` on SQLite; no index table), as the baseline, over ``--baseline-queries``
  queries (each one reads every Observation), and the ratio of the medians;
* peak RSS (``getrusage``) and the RSS growth over the measured queries.

Both answers are compared query by query: the benchmark stops if they differ. Figures only, no asserts::

    python bench/search.py              # PostgreSQL: HUB_BENCH_DATABASE_URL, default database fhirsearch_bench
    python bench/search.py --sqlite     # SQLite in a temporary directory, 50,000 Observations
    python bench/search.py --observations 200000 --patients 1000 --queries 1000
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import orjson  # noqa: E402
from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlalchemy.engine import Engine, make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/fhirsearch_bench"
LOINC = "http://loinc.org"
START = datetime(2023, 1, 1, tzinfo=UTC)
CHUNK = 20_000
_CST = ZoneInfo("Asia/Shanghai")  # the hospitals' zone: dateTimes are written with +08:00
INDEX_TABLES = ("search_token", "search_string", "search_date", "search_reference", "search_quantity")
_COLUMNS = {
    "resource": ("resource_type", "id", "version_id", "last_updated", "content", "content_hash", "deleted"),
    "search_token": ("resource_type", "resource_id", "param", "system", "code"),
    "search_string": ("resource_type", "resource_id", "param", "value", "exact"),
    "search_date": ("resource_type", "resource_id", "param", "low", "high"),
    "search_reference": ("resource_type", "resource_id", "param", "target_type", "target_id"),
    "search_quantity": ("resource_type", "resource_id", "param", "value", "system", "code"),
}


@dataclass(frozen=True, slots=True)
class Shape:
    observations: int
    patients: int
    codes: int
    years: int
    linked: float  # the share of patient records that belong to a person with two records (two hospitals)

    @property
    def days(self) -> int:
        return 365 * self.years

    def master(self, patient: int) -> int:
        """The person (master) of a patient record: pairs of records share one among the first ``linked``."""
        paired = int(self.patients * self.linked) // 2 * 2
        return patient // 2 if patient < paired else patient

    def loinc(self, n: int) -> str:
        """A LOINC-shaped code (digits, dash, check digit), one of ``codes``."""
        body = 10000 + n * 37
        return f"{body}-{body % 10}"


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# -- data -----------------------------------------------------------------------------------------------------


def _observation(shape: Shape, n: int, rng: random.Random, stamp: str) -> dict[str, Any]:
    patient = n % shape.patients
    code = shape.loinc(rng.randrange(shape.codes))
    when = START + timedelta(seconds=rng.randrange(shape.days * 86400))
    local = when.astimezone(_CST).isoformat(timespec="seconds")
    return {
        "resourceType": "Observation",
        "id": f"bench-o{n:07d}",
        "meta": {"versionId": "1", "lastUpdated": stamp},
        "status": "final",
        "category": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
        ],
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": f"Patient/bench-p{patient:05d}"},
        "effectiveDateTime": local,
        "valueQuantity": {
            "value": round(rng.uniform(1, 200), 1),
            "unit": "mg/dL",
            "system": "http://unitsofmeasure.org",
            "code": "mg/dL",
        },
    }


def _patient(n: int, stamp: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": f"bench-p{n:05d}",
        "meta": {"versionId": "1", "lastUpdated": stamp},
        "identifier": [{"system": "urn:hub:mrn:bench", "value": f"{n:05d}"}],
        "name": [{"family": f"Family{n % 997}", "given": [f"Given{n % 101}"]}],
        "gender": "female" if n % 2 else "male",
        "birthDate": f"{1940 + n % 70}-{1 + n % 12:02d}-{1 + n % 28:02d}",
    }


def _rows(resources: list[dict[str, Any]], now: datetime) -> dict[str, list[tuple[Any, ...]]]:
    """The ``resource`` and index rows of ``resources``, as ``store.put`` makes them."""
    from hub.fhir import indexer
    from hub.fhir.dates import local_zone

    local = local_zone()
    out: dict[str, list[tuple[Any, ...]]] = {name: [] for name in _COLUMNS}
    for r in resources:
        rtype, rid = r["resourceType"], r["id"]
        body = {k: v for k, v in r.items() if k != "meta"}
        digest = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
        out["resource"].append((rtype, rid, 1, now, orjson.dumps(r).decode(), digest, False))
        rows = indexer.extract(r, local)
        out["search_token"].extend((rtype, rid, p, s, c) for p, s, c in rows.tokens)
        out["search_string"].extend((rtype, rid, p, v, x) for p, v, x in rows.strings)
        out["search_date"].extend((rtype, rid, p, lo, hi) for p, lo, hi in rows.dates)
        out["search_reference"].extend((rtype, rid, p, t, i) for p, t, i in rows.references)
        out["search_quantity"].extend((rtype, rid, p, v, s, c) for p, v, s, c in rows.quantities)
    return out


def _mpi_rows(shape: Shape, now: datetime) -> dict[str, list[dict[str, Any]]]:
    """The master patient index of the patients: one master per person, each record linked to it."""
    masters = sorted({shape.master(n) for n in range(shape.patients)})
    return {
        "mpi_master": [
            {"id": f"bench-m{m:05d}", "status": "active", "replaced_by": None, "created_at": now, "updated_at": now}
            for m in masters
        ],
        "mpi_source": [
            {
                "patient_id": f"bench-p{n:05d}",
                "master_id": f"bench-m{shape.master(n):05d}",
                "status": "linked",
                "basis": "resident-id" if shape.master(n) != n else "single",
                "replaced_by": None,
                "profile": "{}",
                "updated_at": now,
            }
            for n in range(shape.patients)
        ],
    }


def _batches(shape: Shape, seed: int) -> Iterator[list[dict[str, Any]]]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    stamp = now.isoformat(timespec="microseconds").replace("+00:00", "Z")
    yield [_patient(n, stamp) for n in range(shape.patients)]
    for start in range(0, shape.observations, CHUNK):
        yield [_observation(shape, n, rng, stamp) for n in range(start, min(start + CHUNK, shape.observations))]


def _loaded(engine: Engine, shape: Shape) -> bool | None:
    """True: this shape is loaded; False: the tables are empty; None: they hold something else."""
    with engine.connect() as conn:
        counts = dict(conn.execute(text("SELECT resource_type, count(*) FROM resource GROUP BY resource_type")).all())
        if not counts:
            return False
        marker = conn.execute(
            text("SELECT content FROM resource WHERE resource_type = 'Patient' AND id = 'bench-shape'")
        )
        row = marker.first()
    want = {"Observation": shape.observations, "Patient": shape.patients + 1}
    if row is not None and orjson.loads(row[0]).get("text", {}).get("div", "").endswith(repr(shape) + "</div>"):
        return counts == want or None
    return None


def _shape_marker(shape: Shape) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": "bench-shape",
        "text": {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{shape!r}</div>'},
    }


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    s = str(value)
    if "\\" in s or "\t" in s or "\n" in s or "\r" in s:
        s = s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return s


def _load_postgres(engine: Engine, shape: Shape, seed: int) -> None:
    with engine.begin() as conn:
        indexes = conn.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                "AND tablename = ANY(:t) AND indexname NOT LIKE 'pk_%'"
            ),
            {"t": ["resource", *INDEX_TABLES]},
        ).all()
        for name, _ in indexes:
            conn.execute(text(f'DROP INDEX "{name}"'))
    raw = engine.raw_connection()
    try:
        now = datetime.now(UTC)
        done = 0
        t0 = time.perf_counter()
        for batch in _batches(shape, seed):
            rows = _rows(batch, now)
            with raw.cursor() as cur:
                for table, values in rows.items():
                    if not values:
                        continue
                    buf = io.StringIO()
                    for row in values:
                        buf.write("\t".join(_copy_text(v) for v in row))
                        buf.write("\n")
                    columns = ", ".join(_COLUMNS[table])
                    with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                        copy.write(buf.getvalue())
            raw.commit()
            done += len(batch)
            if done % 200_000 < CHUNK:
                print(f"  loaded {done:>9,} resources ({done / (time.perf_counter() - t0):,.0f}/s)", flush=True)
    finally:
        raw.close()
    t1 = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("SET maintenance_work_mem = '512MB'"))
        for _, definition in indexes:
            conn.execute(text(definition))
        conn.execute(text("VACUUM ANALYZE"))
    print(f"  {len(indexes)} secondary indexes rebuilt and analysed in {time.perf_counter() - t1:.0f} s")


def _tables() -> dict[str, Any]:
    from hub.db.tables import Base
    from hub.identity import tables  # noqa: F401  (registers the MPI tables)

    return {name: Base.metadata.tables[name] for name in (*_COLUMNS, "mpi_master", "mpi_source")}


def _insert(conn: Any, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    """Typed INSERTs (SQLAlchemy's column types store datetimes and numbers as the store does)."""
    tables = _tables()
    for table, values in rows.items():
        if values:
            columns = _COLUMNS[table]
            conn.execute(insert(tables[table]), [dict(zip(columns, v, strict=True)) for v in values])


def _load_sqlite(engine: Engine, shape: Shape, seed: int) -> None:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for batch in _batches(shape, seed):
            _insert(conn, _rows(batch, now))
        conn.execute(text("ANALYZE"))


def load(engine: Engine, shape: Shape, seed: int, *, postgres: bool) -> float:
    """Load the data unless it is there; the seconds spent (0 when reused)."""
    state = _loaded(engine, shape)
    if state:
        return 0.0
    if state is None:
        raise SystemExit(
            "the benchmark database holds other data (or another --observations/--patients shape): "
            "drop it or name another one with HUB_BENCH_DATABASE_URL"
        )
    t0 = time.perf_counter()
    if postgres:
        _load_postgres(engine, shape, seed)
    else:
        _load_sqlite(engine, shape, seed)
    with engine.begin() as conn:
        for table, rows in _mpi_rows(shape, datetime.now(UTC)).items():
            conn.execute(insert(_tables()[table]), rows)
        _insert(conn, {"resource": _rows([_shape_marker(shape)], datetime.now(UTC))["resource"]})
    return time.perf_counter() - t0


# -- queries --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Query:
    patient: str
    code: str
    since: date

    @property
    def params(self) -> list[tuple[str, str]]:
        return [("patient", self.patient), ("code", f"{LOINC}|{self.code}"), ("date", f"ge{self.since.isoformat()}")]


def _queries(shape: Shape, n: int, seed: int) -> list[Query]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        since = (START + timedelta(days=rng.randrange(shape.days))).astimezone(_CST).date()
        out.append(Query(f"bench-p{rng.randrange(shape.patients):05d}", shape.loinc(rng.randrange(shape.codes)), since))
    return out


def _indexed(session: Session, q: Query) -> tuple[list[str], int | None]:
    from hub.fhir import store

    result = store.search(session, "Observation", q.params, count=50)
    return [r["id"] for r in result.resources], result.total


_PG_SCAN = text(
    "SELECT content FROM resource WHERE resource_type = 'Observation' AND NOT deleted "
    "AND content::jsonb #>> '{subject,reference}' = ANY(:refs) AND content::jsonb @> CAST(:match AS jsonb) "
    "AND (content::jsonb ->> 'effectiveDateTime')::timestamptz >= :since ORDER BY id"
)
_SQLITE_SCAN = text(
    "SELECT content FROM resource WHERE resource_type = 'Observation' AND NOT deleted "
    "AND json_extract(content, '$.subject.reference') IN (SELECT value FROM json_each(:refs)) "
    "AND EXISTS (SELECT 1 FROM json_each(content, '$.code.coding') c "
    "WHERE json_extract(c.value, '$.system') = :system AND json_extract(c.value, '$.code') = :code) "
    "AND julianday(json_extract(content, '$.effectiveDateTime')) >= julianday(:since) ORDER BY id"
)


def _scanned(session: Session, q: Query, postgres: bool) -> tuple[list[str], int]:
    """The same query by a JSON scan: every match (the page is its first 50, the total its length). The patient is
    expanded through the MPI as the search does; the rest reads the JSON of every Observation."""
    from hub.identity.linking import expand_patient_ids

    refs = [f"Patient/{i}" for i in expand_patient_ids(session, q.patient)]
    since = datetime.combine(q.since, datetime.min.time(), _CST)
    if postgres:
        match = {"code": {"coding": [{"system": LOINC, "code": q.code}]}}
        params = {"match": orjson.dumps(match).decode(), "refs": refs, "since": since}
        rows = session.execute(_PG_SCAN, params).scalars().all()
    else:
        params = {"refs": orjson.dumps(refs).decode(), "system": LOINC, "code": q.code, "since": since.isoformat()}
        rows = session.execute(_SQLITE_SCAN, params).scalars().all()
    ids = [orjson.loads(r)["id"] for r in rows]
    return ids[:50], len(ids)


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def _fmt(label: str, ms: list[float]) -> str:
    return (
        f"  {label:<34} n={len(ms):<5} p50 {_percentile(ms, 50):8.2f} ms   p95 {_percentile(ms, 95):8.2f} ms"
        f"   p99 {_percentile(ms, 99):8.2f} ms   mean {statistics.fmean(ms):8.2f} ms"
    )


def _prepare_database(url: str) -> None:
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}).first()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sqlite", action="store_true", help="SQLite in a temporary directory (default N 50,000)")
    parser.add_argument("--database-url", help="PostgreSQL URL (default HUB_BENCH_DATABASE_URL, then fhirsearch_bench)")
    parser.add_argument("--observations", type=int, help="Observations to load (1,000,000; --sqlite 50,000)")
    parser.add_argument("--patients", type=int, help="patients (5,000; --sqlite 250)")
    parser.add_argument("--codes", type=int, default=50, help="LOINC codes")
    parser.add_argument("--linked", type=float, default=0.2, help="share of patient records linked in pairs (MPI)")
    parser.add_argument("--years", type=int, default=3, help="years the dates spread over")
    parser.add_argument("--queries", type=int, default=500, help="indexed searches measured")
    parser.add_argument("--baseline-queries", type=int, default=10, help="JSON-scan searches measured")
    parser.add_argument("--seed", type=int, default=20240301)
    args = parser.parse_args()

    shape = Shape(
        args.observations or (50_000 if args.sqlite else 1_000_000),
        args.patients or (250 if args.sqlite else 5_000),
        args.codes,
        args.years,
        args.linked,
    )
    tmp = Path(tempfile.mkdtemp(prefix="hub-bench-search-"))
    if args.sqlite:
        url = f"sqlite:///{(tmp / 'bench.db').as_posix()}"
    else:
        url = args.database_url or os.environ.get("HUB_BENCH_DATABASE_URL") or DEFAULT_PG
        _prepare_database(url)
    os.environ["HUB_DATABASE_URL"] = url  # the hub's settings (time zone, database) for this process
    os.environ["HUB_DATA_DIR"] = str(tmp)

    from hub.config import get_settings
    from hub.db import get_engine, get_sessionmaker, upgrade

    settings = get_settings()
    upgrade(settings)
    engine = get_engine(settings)
    postgres = engine.dialect.name == "postgresql"
    print(f"database: {engine.dialect.name} ({make_url(url).render_as_string(hide_password=True)})")
    print(
        f"data: {shape.observations:,} Observations, {shape.patients:,} patient records "
        f"({shape.linked:.0%} linked in pairs in the MPI), {shape.codes} codes, {shape.years} years"
    )
    seconds = load(engine, shape, args.seed, postgres=postgres)
    print(f"  load: {seconds:,.0f} s" if seconds else "  load: reused (already in the database)")

    queries = _queries(shape, args.queries, args.seed + 1)
    session = get_sessionmaker(settings)()
    for q in queries[:20]:  # warm the caches and the statement cache
        _indexed(session, q)
        session.rollback()
    rss_before = _rss_mib()
    indexed: list[float] = []
    matches = 0
    cpu0 = time.process_time()
    for q in queries:
        t0 = time.perf_counter()
        ids, total = _indexed(session, q)
        indexed.append((time.perf_counter() - t0) * 1000)
        session.rollback()
        matches += total or 0
    cpu_ms = (time.process_time() - cpu0) * 1000 / len(queries)
    rss_growth = _rss_mib() - rss_before

    scanned: list[float] = []
    for q in queries[: args.baseline_queries]:
        t0 = time.perf_counter()
        expect = _scanned(session, q, postgres)
        scanned.append((time.perf_counter() - t0) * 1000)
        session.rollback()
        got = _indexed(session, q)
        session.rollback()
        if got != expect:
            raise SystemExit(f"the indexed search and the JSON scan disagree on {q}: {got} != {expect}")
    session.close()

    print(f"query: Observation?patient=X&code={LOINC}|Y&date=geYYYY-MM-DD (page of 50 and the total)")
    print(f"  matches per query: {matches / len(queries):.1f} on average")
    print(_fmt("indexed (store.search)", indexed))
    where = "SQLite runs in this process" if not postgres else "the rest is the database and waiting for a CPU"
    print(f"  {'':<34} this process's CPU per query {cpu_ms:.2f} ms ({where})")
    print(_fmt("baseline: JSON scan of resource", scanned))
    ratio = _percentile(scanned, 50) / _percentile(indexed, 50)
    print(f"  ratio (baseline p50 / indexed p50): {ratio:,.0f}x; answers identical on {len(scanned)} queries")
    print(f"  p95 target < 50 ms: {'met' if _percentile(indexed, 95) < 50 else 'NOT met'}")
    print(f"peak RSS {_peak_rss_mib():,.0f} MiB; RSS growth over the measured queries {rss_growth:+.1f} MiB")
    print(f"load average while measuring: {' / '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
