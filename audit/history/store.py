"""The history store: runs, observations, verdicts and graph metrics in SQL, for `hulian runs`,
trends and `hulian diff --against previous`. SQLAlchemy 2.x; SQLite by default, PostgreSQL by
URL (`postgresql+psycopg://user@host/db`). The schema is created and upgraded by the Alembic
migrations in audit/history/migrations/ whenever a store is opened.

Where: `db_url` argument, else `$HULIAN_DB` (a URL, or a file path for SQLite), else
`~/.local/share/hulian/history.db` (`$XDG_DATA_HOME` respected).

The run bundle stays the evidence; the store is an index of it, rebuilt from bundles at any
time with `hulian runs import` (idempotent: a run already stored is left alone unless
`replace=True`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    cast,
    create_engine,
    delete,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from audit.collector import collector_paused
from audit.errors import HulianError
from audit.evidence.bundle import Bundle, read_manifest
from audit.graph.build import METRICS, build, flat_metrics, metrics
from audit.history.aggregate import VERSION as AGGREGATES_VERSION
from audit.history.aggregate import (
    Aggregator,
    RunAggregates,
    findings_from_record,
    summary_from_record,
)
from audit.judge.search_run import class_table, judge_search
from audit.model import (
    BlockReason,
    Observation,
    Outcome,
    Probe,
    Severity,
    Status,
    SurfaceKind,
    Verdict,
)
from audit.model import Text as I18nText
from audit.policy.catalog import Catalog, catalog_for_run

T = TypeVar("T")
logger = logging.getLogger(__name__)
BATCH = 20_000  # rows per executemany: big enough to amortise, small enough for memory


class StoreError(HulianError):
    """The store cannot be opened or written; the message says which database."""


class Base(DeclarativeBase):
    pass


class RunRow(Base):
    __tablename__ = "runs"
    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    path: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    tool_version: Mapped[str | None] = mapped_column(String(40))
    policy_digest: Mapped[str | None] = mapped_column(String(64))
    # The audited source platforms, sorted and joined with ',': "the same sources" for
    # --against previous is an equality on this column.
    sources_key: Mapped[str] = mapped_column(Text, index=True)
    n_observations: Mapped[int] = mapped_column(Integer, default=0)
    n_verdicts: Mapped[int] = mapped_column(Integer, default=0)
    n_failed: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ObservationRow(Base):
    __tablename__ = "observations"
    run_id: Mapped[str] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    probe_id: Mapped[str] = mapped_column(String(120))
    source: Mapped[str] = mapped_column(String(80))
    surface: Mapped[str] = mapped_column(String(20))
    target_url: Mapped[str] = mapped_column(Text)
    target_platform: Mapped[str | None] = mapped_column(String(120))
    outcome: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(20))
    method: Mapped[str] = mapped_column(String(10))
    # No secondary index: the primary key serves per-run reads, and an index on random
    # observation ids halves the ingest rate of a million-observation run.


class VerdictRow(Base):
    __tablename__ = "verdicts"
    run_id: Mapped[str] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(80))
    observation_id: Mapped[str | None] = mapped_column(String(120))
    source: Mapped[str] = mapped_column(String(80))
    surface: Mapped[str | None] = mapped_column(String(20))
    target_url: Mapped[str | None] = mapped_column(Text)
    target_platform: Mapped[str | None] = mapped_column(String(120))
    outcome: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(20))
    reason_zh: Mapped[str] = mapped_column(Text)
    reason_en: Mapped[str] = mapped_column(Text)
    exemption: Mapped[str | None] = mapped_column(String(80))
    requirements: Mapped[list[str]] = mapped_column(JSON, default=list)
    evidence: Mapped[list[str]] = mapped_column(JSON, default=list)
    __table_args__ = (Index("ix_verdicts_rule", "run_id", "rule_id", "status"),)


class MetricRow(Base):
    __tablename__ = "graph_metrics"
    run_id: Mapped[str] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    level: Mapped[str] = mapped_column(String(10), primary_key=True)
    node: Mapped[str] = mapped_column(String(120), primary_key=True)  # '' = run-wide
    metric: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)
    __table_args__ = (Index("ix_graph_metrics_series", "level", "node", "metric"),)


class SearchClassRow(Base):
    """A run's search barriers: the class each search engine gets on each measured platform
    (audit.judge.search_run, the platform's hosts together), so `hulian diff` of stored runs
    compares them as it does a bundle's. Token, not engine id: the key RunData.search uses."""

    __tablename__ = "search_classes"
    run_id: Mapped[str] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    platform: Mapped[str] = mapped_column(String(120), primary_key=True)
    engine: Mapped[str] = mapped_column(String(80), primary_key=True)  # robots.txt token
    search_class: Mapped[str] = mapped_column(String(20))


class RunAggregateRow(Base):
    """A run's aggregates (audit/history/aggregate.py), computed while the run is recorded:
    what the site and a diff read instead of the run's verdict rows. JSON text, apart:
    `summary` (edge outcome counts, requirement statuses) and `findings` (the failed
    findings by what they are about). A run recorded before the store kept them, or whose
    row is damaged, is computed again from its rows when read (`load_aggregates`)."""

    __tablename__ = "run_aggregates"
    run_id: Mapped[str] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    summary: Mapped[str] = mapped_column(Text)
    findings: Mapped[str] = mapped_column(Text)


class CrawlProbeRow(Base):
    """A probe planned by a distributed crawl (spiders/coordinator.py): the shared
    frontier's
    ledger of what must be observed. No foreign key to runs: the run row is written only when
    the finished bundle is recorded."""

    __tablename__ = "crawl_probes"
    run_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    probe_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    body: Mapped[str] = mapped_column(Text)  # the Probe as JSON


class CrawlObservationRow(Base):
    """An observation of a distributed crawl. The primary key (run_id, probe_id) is the
    "stored once" guarantee: a probe measured twice after a requeue keeps its first row."""

    __tablename__ = "crawl_observations"
    run_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    probe_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    worker: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)  # the Observation as JSON


# Scheduled audits (audit/ops/schedule.py): here so that the store's metadata, which the
# migrations must reproduce exactly, knows every table.


class ScheduleRow(Base):
    __tablename__ = "schedules"
    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    cron: Mapped[str] = mapped_column(String(120))
    args: Mapped[list[str]] = mapped_column(JSON, default=list)  # `hulian run` options
    channels: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ScheduleRunRow(Base):
    __tablename__ = "schedule_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    schedule: Mapped[str] = mapped_column(
        String(80), ForeignKey("schedules.name", ondelete="CASCADE"), index=True)
    run_id: Mapped[str | None] = mapped_column(String(120))
    run_path: Mapped[str | None] = mapped_column(Text)
    # ok | failed (the audit exited with an error) | locked (another run held the lock)
    # | missed (the daemon skipped a firing that was too late)
    status: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    exit_code: Mapped[int | None] = mapped_column(Integer)
    regression: Mapped[bool | None] = mapped_column(Boolean)
    alerts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


def default_url() -> str:
    configured = os.environ.get("HULIAN_DB")
    if configured and configured.lower() in ("off", "none", "0"):
        raise StoreError("the history store is turned off (HULIAN_DB=off)")
    if configured:
        return configured if "://" in configured else f"sqlite:///{Path(configured).resolve()}"
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return f"sqlite:///{base / 'hulian' / 'history.db'}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL: readers (hulian runs list) do not block the end-of-run writer; foreign keys make
    # ON DELETE CASCADE work; busy_timeout waits for a concurrent writer instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoints, never corrupt
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB: B-tree inserts of random keys
    cursor.close()


def open_engine(db_url: str | None = None, migrate: bool = True) -> Engine:
    """An engine on the store, its schema upgraded to the latest migration."""
    url = db_url or default_url()
    try:
        if url.startswith("sqlite:///"):
            file = url.removeprefix("sqlite:///")
            if file and file != ":memory:":
                Path(file).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        if migrate:
            upgrade(engine)
    except StoreError:
        raise
    except Exception as exc:  # driver, URL and migration errors all mean "cannot open"
        raise StoreError(f"cannot open the history store {_safe(url)}: {exc}") from exc
    return engine


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparsable URL)"


def upgrade(engine: Engine) -> None:
    """Apply the Alembic migrations (audit/history/migrations) up to head."""
    # Alembic only when a store is opened: modules that only use the table definitions (the
    # distributed spider, the query views) do not load it.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------


@dataclass
class RecordResult:
    run_id: str
    recorded: bool  # False: the run was already in the store and left alone
    observations: int = 0
    verdicts: int = 0
    metrics: int = 0
    seconds: float = 0.0


def sources_key(sources: Iterable[str]) -> str:
    return ",".join(sorted(set(sources)))


@collector_paused()
def record_run(run_path: Path, catalog: Catalog | None = None,
               verdicts: Sequence[Verdict] | None = None, db_url: str | None = None,
               replace: bool = False, engine: Engine | None = None,
               unverified: list[str] | None = None) -> RecordResult:
    """Record one run bundle (its manifest, observations, verdicts and graph metrics).

    `catalog` defaults to the run's own (shipped + the bundle's policies/); `verdicts`
    default to the bundle's verdicts.jsonl (pass the run's verdicts, graph findings
    included, when calling from the end of a run). Idempotent: a run already stored is
    left alone unless `replace`, also when another process records it at the same moment.
    `unverified`: the banner of a bundle imported despite failing verification, kept with
    the run's summary. Database errors are StoreError."""
    engine = engine or open_engine(db_url)
    try:
        return _record_run(run_path, catalog, verdicts, replace, engine, unverified)
    except IntegrityError as exc:
        if not replace and get_run(engine, _run_id(run_path)):
            # Recorded by another process between our check and our insert.
            return RecordResult(_run_id(run_path), recorded=False)
        raise StoreError(f"{run_path}: the store refused the run's records (duplicate ids: "
                         f"does `hulian verify {run_path}` pass?): {exc.orig}") from None
    except SQLAlchemyError as exc:
        raise StoreError(f"{run_path}: the history store failed: {exc}") from None


def _run_id(run_path: Path) -> str:
    return read_manifest(run_path).run_id


def _record_run(run_path: Path, catalog: Catalog | None, verdicts: Sequence[Verdict] | None,
                replace: bool, engine: Engine, unverified: list[str] | None) -> RecordResult:
    started = time.perf_counter()
    bundle = Bundle(run_path)
    manifest = bundle.manifest
    with Session(engine) as session:
        if session.get(RunRow, manifest.run_id) is not None:
            if not replace:
                return RecordResult(manifest.run_id, recorded=False)
            session.execute(delete(RunRow).where(RunRow.id == manifest.run_id))
            _delete_children(session, manifest.run_id)
            session.commit()
    catalog = catalog or catalog_for_run(run_path)
    # Observations and verdicts are streamed from the bundle into the store, never held in
    # a list: a run's records can be many times the memory of everything else.
    configured = manifest.config.get("sources")
    sources = ([str(s) for s in configured] if isinstance(configured, list) and configured
               else sorted({o.source for o in bundle.observations()}))
    summary = manifest.config.get("summary")
    summary = dict(summary) if isinstance(summary, dict) else {}
    if unverified:
        summary["unverified"] = unverified
    run = {
        "id": manifest.run_id, "path": str(run_path.resolve()),
        "started_at": manifest.started_at, "finished_at": manifest.finished_at,
        "recorded_at": datetime.now(UTC), "tool_version": manifest.tool_version,
        "policy_digest": manifest.policy_digest, "sources_key": sources_key(sources),
        # Counted while the records go in (ingest corrects them).
        "n_observations": 0, "n_verdicts": 0, "n_failed": 0,
        "summary": summary,
    }
    figures = run_figures(run_path, verdicts, catalog)
    search = class_table(judge_search(bundle.search(), catalog))
    counted = ingest(engine, run, bundle.observations(),
                     verdicts if verdicts is not None else bundle.verdicts(), figures, search)
    return RecordResult(manifest.run_id, True, counted.observations, counted.verdicts,
                        len(figures), time.perf_counter() - started)


def run_figures(run_path: Path, verdicts: Sequence[Verdict] | None, catalog: Catalog
                ) -> list[tuple[str, str, str, float | None]]:
    """The graph metrics stored for a run: the bundle's own metrics.json (computed and sealed
    with the run from the same observations and verdicts) when the run is recorded with its
    own verdicts; otherwise computed from the bundle's tables and the given verdicts."""
    if verdicts is None:
        try:
            return flat_metrics(json.loads((run_path / METRICS).read_bytes()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass  # an older bundle without metrics.json, or one not in today's shape
    # Both streamed into the graph's tables (audit.evidence.sql.memory_tables), never a list:
    # an older bundle's verdicts are a million records at a million observations.
    graph = build(Bundle(run_path).observations(),
                  verdicts if verdicts is not None else Bundle(run_path).verdicts(), catalog)
    return flat_metrics(metrics(graph, catalog, max_paths=0))


def _delete_children(session: Session, run_id: str) -> None:
    # ON DELETE CASCADE covers SQLite (foreign_keys=ON) and PostgreSQL; deleting explicitly
    # too keeps a store opened without the pragma consistent.
    for table in (ObservationRow, VerdictRow, MetricRow, SearchClassRow,
                  RunAggregateRow):
        session.execute(delete(table).where(table.run_id == run_id))


OBSERVATION_COLUMNS = ("run_id", "id", "probe_id", "source", "surface", "target_url",
                       "target_platform", "outcome", "reason", "method")
# Enum members -> their values by a dict lookup: a million `.value` attribute reads through
# the enum descriptor cost more than the inserts they feed.
_VALUES: dict[object, str] = {m: m.value for enum in (Outcome, SurfaceKind, BlockReason)
                              for m in enum}


@dataclass(frozen=True)
class Ingested:
    observations: int
    verdicts: int
    failed: int


def ingest(engine: Engine, run: dict[str, Any], observations: Iterable[Observation],
           verdicts: Iterable[Verdict],
           figures: Iterable[tuple[str, str, str, float | None]] = (),
           search: dict[tuple[str, str], str] | None = None) -> Ingested:
    """Insert one run and its records in one transaction (`search`: (platform, engine
    token) -> search class, audit.judge.search_run.class_table). Observations go through the
    driver's executemany with plain tuples (the ORM's unit of work, or even Core's per-row
    parameter dictionaries, would cost several times the insert itself on a million rows).
    The records are streamed; the run's counts are set to what went in, and its aggregates
    (audit/history/aggregate.py) are made from them on the way and stored with them."""
    run_id = str(run["id"])
    count = 0
    failed = [0, 0]  # verdicts, failed verdicts
    agg = Aggregator()

    def counted(stream: Iterable[Verdict]) -> Iterator[Verdict]:
        for verdict in stream:
            failed[0] += 1
            failed[1] += verdict.status is Status.FAIL
            agg.add(verdict)
            yield verdict

    with engine.begin() as connection:
        connection.execute(insert(RunRow), [run])
        mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        sql = (f"INSERT INTO observations ({', '.join(OBSERVATION_COLUMNS)}) "
               f"VALUES ({', '.join([mark] * len(OBSERVATION_COLUMNS))})")
        for batch in _batches(_observation_rows(run_id, observations, agg)):
            connection.exec_driver_sql(sql, batch)
            count += len(batch)
        for vbatch in _batches(_verdict_rows(run_id, counted(verdicts))):
            connection.execute(insert(VerdictRow), vbatch)
        for mbatch in _batches({"run_id": run_id, "level": level, "node": node,
                                "metric": metric, "value": value}
                               for level, node, metric, value in figures):
            connection.execute(insert(MetricRow), mbatch)
        if search:
            connection.execute(insert(SearchClassRow), [
                {"run_id": run_id, "platform": platform, "engine": token,
                 "search_class": cls} for (platform, token), cls in sorted(search.items())])
        connection.execute(insert(RunAggregateRow), [_aggregate_row(run_id, agg.result())])
        counts = {"n_observations": count, "n_verdicts": failed[0], "n_failed": failed[1]}
        if any(run.get(k, v) != v for k, v in counts.items()):
            connection.execute(update(RunRow).where(RunRow.id == run_id).values(**counts))
    return Ingested(count, failed[0], failed[1])


def _aggregate_row(run_id: str, aggregates: RunAggregates) -> dict[str, Any]:
    summary, findings = aggregates.records()
    return {"run_id": run_id, "version": AGGREGATES_VERSION,
            "summary": orjson.dumps(summary).decode(),
            "findings": orjson.dumps(findings).decode()}


def _batches(rows: Iterable[T]) -> Iterator[list[T]]:
    batch: list[T] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _observation_rows(run_id: str, observations: Iterable[Observation],
                      agg: Aggregator | None = None) -> Iterator[tuple[str | None, ...]]:
    """The rows of `observations`, each fed to `agg` on the way (bench/graph.py times the
    rows alone)."""
    values = _VALUES
    add = (agg or Aggregator()).observation
    for o in observations:
        reason = o.reason
        add(o.source, values[o.surface], o.target_platform, o.target_url, values[o.outcome])
        yield (run_id, o.id, o.probe_id, o.source, values[o.surface], o.target_url,
               o.target_platform, values[o.outcome],
               values[reason] if reason is not None else None, o.method)


def _verdict_rows(run_id: str, verdicts: Iterable[Verdict]) -> Iterator[dict[str, Any]]:
    for v in verdicts:
        yield {"run_id": run_id, "id": v.id, "rule_id": v.rule_id,
               "observation_id": v.observation_id, "source": v.source,
               "surface": v.surface.value if v.surface else None, "target_url": v.target_url,
               "target_platform": v.target_platform,
               "outcome": v.outcome.value if v.outcome else None, "status": v.status.value,
               "severity": v.severity.value, "reason_zh": v.reason.zh,
               "reason_en": v.reason.en, "exemption": v.exemption,
               "requirements": list(v.requirements), "evidence": list(v.evidence)}


# ---------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------


def list_runs(engine: Engine, limit: int | None = None) -> list[RunRow]:
    with Session(engine) as session:
        query = select(RunRow).order_by(RunRow.started_at.desc(), RunRow.id.desc())
        if limit:
            query = query.limit(limit)
        rows = list(session.scalars(query))
        session.expunge_all()
        return rows


def get_run(engine: Engine, run_id: str) -> RunRow | None:
    with Session(engine) as session:
        row = session.get(RunRow, run_id)
        if row is not None:
            session.expunge(row)
        return row


def previous_before(engine: Engine, key: str, started_at: datetime | None,
                    exclude: str) -> RunRow | None:
    """The latest stored run with sources `key` that started before `started_at`."""
    with Session(engine) as session:
        query = (select(RunRow).where(RunRow.sources_key == key, RunRow.id != exclude)
                 .order_by(RunRow.started_at.desc(), RunRow.id.desc()))
        if started_at is not None:
            query = query.where(RunRow.started_at <= started_at)
        row = session.scalars(query.limit(1)).first()
        if row is not None:
            session.expunge(row)
        return row


def previous_run(engine: Engine, run_id: str) -> RunRow | None:
    """The latest stored run with the same sources that started before `run_id`."""
    current = get_run(engine, run_id)
    if current is None:
        return None
    return previous_before(engine, current.sources_key, current.started_at, run_id)


def load_observations(engine: Engine, run_id: str) -> list[Observation]:
    with Session(engine) as session:
        rows = session.scalars(select(ObservationRow).where(ObservationRow.run_id == run_id)
                               .order_by(ObservationRow.id))
        return [Observation.model_validate({
            "id": r.id, "probe_id": r.probe_id, "run_id": run_id, "source": r.source,
            "surface": r.surface, "target_url": r.target_url,
            "target_platform": r.target_platform, "outcome": r.outcome, "reason": r.reason,
            "method": r.method}) for r in rows]


def load_verdicts(engine: Engine, run_id: str) -> list[Verdict]:
    with Session(engine) as session:
        rows = session.scalars(select(VerdictRow).where(VerdictRow.run_id == run_id)
                               .order_by(VerdictRow.id))
        return [Verdict(
            id=r.id, rule_id=r.rule_id, observation_id=r.observation_id, source=r.source,
            surface=SurfaceKind(r.surface) if r.surface else None, target_url=r.target_url,
            target_platform=r.target_platform, outcome=r.outcome, status=Status(r.status),
            severity=Severity(r.severity), reason=I18nText(zh=r.reason_zh, en=r.reason_en),
            exemption=r.exemption, requirements=list(r.requirements or []),
            evidence=list(r.evidence or [])) for r in rows]


def load_metrics(engine: Engine, run_id: str) -> list[tuple[str, str, str, float | None]]:
    with Session(engine) as session:
        rows = session.scalars(select(MetricRow).where(MetricRow.run_id == run_id)
                               .order_by(MetricRow.level, MetricRow.node, MetricRow.metric))
        return [(r.level, r.node, r.metric, r.value) for r in rows]


def load_search(engine: Engine, run_id: str) -> dict[tuple[str, str], str]:
    """(platform, engine token) -> search class of a stored run (empty: none measured, or
    recorded before the store kept them)."""
    with Session(engine) as session:
        rows = session.execute(select(SearchClassRow.platform, SearchClassRow.engine,
                                      SearchClassRow.search_class)
                               .where(SearchClassRow.run_id == run_id))
        return {(platform, token): cls for platform, token, cls in rows}


def load_aggregates(engine: Engine, run: RunRow, findings: bool = True
                    ) -> tuple[RunAggregates, str | None]:
    """A stored run's aggregates, and None; or, when the store holds none for it (a run
    recorded before it kept them), none of this version, or a damaged row (not JSON, not
    their shape, counts that disagree with the run's row), the aggregates computed again
    from the run's rows (`backfill_aggregates`, which stores them) and why. `findings`:
    False reads the summary only (the result's findings are then empty)."""
    columns = [RunAggregateRow.version, RunAggregateRow.summary]
    if findings:
        columns.append(RunAggregateRow.findings)
    try:
        with engine.connect() as connection:
            stored = connection.execute(select(*columns).where(
                RunAggregateRow.run_id == run.id)).first()
    except SQLAlchemyError as exc:
        raise StoreError(f"run {run.id}: the history store failed: {exc}") from None
    if stored is None:
        why = "no aggregates stored (recorded before the store kept them)"
    elif stored[0] != AGGREGATES_VERSION:
        why = f"aggregates of version {stored[0]}, not {AGGREGATES_VERSION}"
    else:
        try:
            edges, requirements, whole, n_obs, n_failed = summary_from_record(
                orjson.loads(str(stored[1])))
            if (n_obs, n_failed) != (run.n_observations, run.n_failed):
                raise ValueError(f"they count {n_obs} observations and {n_failed} failed "
                                 f"verdicts, the run {run.n_observations} and {run.n_failed}")
            found = findings_from_record(orjson.loads(str(stored[2]))) if findings else {}
            return RunAggregates(edges, requirements, whole, found, n_obs, n_failed), None
        except (ValueError, orjson.JSONDecodeError) as exc:
            why = f"damaged aggregates: {exc}"
    return backfill_aggregates(engine, run.id), why


class _Replaced(Exception):
    """The run was recorded again while its aggregates were computed."""


# What a backfill compares before it writes: a run recorded again (`--replace`) has another
# time of recording (and maybe other counts).
_RUN_STATE = (RunRow.recorded_at, RunRow.n_observations, RunRow.n_verdicts, RunRow.n_failed)


def backfill_aggregates(engine: Engine, run_id: str) -> RunAggregates:
    """The run's aggregates computed from its rows in the store by the aggregator `ingest`
    uses, and stored (replacing any row of them): for runs recorded before the store kept
    them, and damaged rows. A store that cannot be written is left as it is (a warning; the
    aggregates are still returned); so is a run recorded again while they were computed
    (its rows were read in several statements: they may mix both recordings, and the new
    recording stored its own). StoreError when the run is not in the store."""
    agg = Aggregator()
    o, v = ObservationRow, VerdictRow
    parsed: dict[str | None, list[str]] = {}
    try:
        with engine.connect() as connection:
            seen = connection.execute(select(*_RUN_STATE).where(RunRow.id == run_id)).first()
            if seen is None:
                raise StoreError(f"run {run_id} is not in the history store")
            for source, surface, platform, url, outcome in connection.execute(
                    select(o.source, o.surface, o.target_platform, o.target_url, o.outcome)
                    .where(o.run_id == run_id)):
                agg.observation(source, surface, platform, url, outcome)
            for verdict_id, source, requirements, status, observation_id in connection.execute(
                    select(v.id, v.source, cast(v.requirements, Text), v.status,
                           v.observation_id).where(v.run_id == run_id)):
                names = parsed.get(requirements)
                if names is None:  # a run has a handful of distinct lists: parsed once each
                    names = parsed[requirements] = [str(r) for r in
                                                    json.loads(requirements or "[]")]
                agg.verdict(verdict_id, source, names, status, observation_id)
            for (failed_id, rule_id, failed_source, failed_surface, failed_platform,
                 failed_url, severity, failed_outcome, reason_zh, reason_en) in connection.execute(
                    select(v.id, v.rule_id, v.source, v.surface, v.target_platform,
                           v.target_url, v.severity, v.outcome, v.reason_zh, v.reason_en)
                    .where(v.run_id == run_id, v.status == Status.FAIL.value)):
                agg.failed(failed_id, rule_id, failed_source, failed_surface, failed_platform,
                           failed_url, severity, failed_outcome, reason_zh, reason_en)
    except SQLAlchemyError as exc:
        raise StoreError(f"run {run_id}: the history store failed: {exc}") from None
    aggregates = agg.result()

    def unchanged(connection: Any, lock: bool) -> None:
        query = select(*_RUN_STATE).where(RunRow.id == run_id)
        if tuple(connection.execute(query.with_for_update() if lock else query).first()
                 or ()) != tuple(seen):
            raise _Replaced

    try:
        with engine.begin() as connection:
            # The run's row first (PostgreSQL: locked, in the order a replace takes its
            # locks, so neither waits for the other's): a replace that committed since
            # the reads above is seen, one that comes later waits for this write.
            unchanged(connection, lock=True)
            connection.execute(delete(RunAggregateRow).where(RunAggregateRow.run_id == run_id))
            if connection.dialect.name == "sqlite":
                # SQLite has no FOR UPDATE: from the delete on, this transaction holds the
                # store's write lock, so the row read again now is the one it commits with.
                unchanged(connection, lock=False)
            connection.execute(insert(RunAggregateRow), [_aggregate_row(run_id, aggregates)])
    except _Replaced:
        logger.info("run %s was recorded again while its aggregates were computed: the new "
                    "recording's are kept", run_id)
    except SQLAlchemyError as exc:
        logger.warning("run %s: its aggregates could not be stored (computed again next "
                       "time) / 运行 %s 的汇总数据未能写入历史库: %s", run_id, run_id, exc)
    return aggregates


def missing_aggregates(engine: Engine) -> list[str]:
    """The stored runs without aggregates of this version (recorded before the store kept
    them): `backfill_aggregates` each, or let the first reader do it."""
    with Session(engine) as session:
        current = select(RunAggregateRow.run_id).where(
            RunAggregateRow.version == AGGREGATES_VERSION)
        return list(session.scalars(select(RunRow.id).where(RunRow.id.not_in(current))
                                    .order_by(RunRow.started_at, RunRow.id)))


def metric_series(engine: Engine, metric: str, level: str = "platform", node: str = ""
                  ) -> list[tuple[str, datetime | None, float | None]]:
    """(run id, started_at, value) of one metric over time, oldest first."""
    with Session(engine) as session:
        query = (select(RunRow.id, RunRow.started_at, MetricRow.value)
                 .join(MetricRow, MetricRow.run_id == RunRow.id)
                 .where(MetricRow.metric == metric, MetricRow.level == level,
                        MetricRow.node == node)
                 .order_by(RunRow.started_at, RunRow.id))
        return [(str(i), s, v) for i, s, v in session.execute(query)]


def run_as_dict(row: RunRow) -> dict[str, Any]:
    return {"id": row.id, "path": row.path,
            "started_at": row.started_at.isoformat() if row.started_at else None,
            "finished_at": row.finished_at.isoformat() if row.finished_at else None,
            "recorded_at": row.recorded_at.isoformat() if row.recorded_at else None,
            "tool_version": row.tool_version, "policy_digest": row.policy_digest,
            "sources": row.sources_key.split(",") if row.sources_key else [],
            "observations": row.n_observations, "verdicts": row.n_verdicts,
            "failed": row.n_failed, "summary": json.loads(json.dumps(row.summary or {}))}


# ---------------------------------------------------------------------------------------
# Distributed crawls (spiders/coordinator.py): planned probes and observations, once
# each
# ---------------------------------------------------------------------------------------


def _insert_ignoring_duplicates(engine: Engine, table: type[Base],
                                rows: list[dict[str, str]]) -> int:
    """Insert rows, skipping those whose primary key exists; returns how many were new."""
    if not rows:
        return 0

    dialect: Any = postgresql if engine.dialect.name == "postgresql" else sqlite
    # RETURNING counts the new rows: rowcount is -1 for these statements on psycopg 3.
    statement = dialect.insert(table).on_conflict_do_nothing().returning(
        table.__table__.c.probe_id)
    with engine.begin() as connection:
        return len(connection.execute(statement, rows).fetchall())


def add_crawl_probes(engine: Engine, run_id: str, probes: Iterable[Probe]) -> int:
    """Record planned probes (a probe already planned is left alone); how many were new."""
    return _insert_ignoring_duplicates(engine, CrawlProbeRow, [
        {"run_id": run_id, "probe_id": p.id, "body": p.model_dump_json()} for p in probes])


def add_crawl_observation(engine: Engine, run_id: str, observation: Observation,
                          worker: str) -> bool:
    """Store an observation unless its probe already has one; True if this one was new."""
    return _insert_ignoring_duplicates(engine, CrawlObservationRow, [
        {"run_id": run_id, "probe_id": observation.probe_id, "worker": worker,
         "body": observation.model_dump_json()}]) == 1


def crawl_missing(engine: Engine, run_id: str) -> list[Probe]:
    """Planned probes of a distributed crawl that have no observation yet."""
    with Session(engine) as session:
        observed = select(CrawlObservationRow.probe_id).where(
            CrawlObservationRow.run_id == run_id)
        rows = session.scalars(select(CrawlProbeRow.body).where(
            CrawlProbeRow.run_id == run_id, CrawlProbeRow.probe_id.not_in(observed)))
        return [Probe.model_validate_json(body) for body in rows]


def crawl_records(engine: Engine, run_id: str
                  ) -> tuple[list[Probe], list[tuple[str, Observation]]]:
    """Every planned probe and every (worker, observation) of a distributed crawl."""
    with Session(engine) as session:
        probes = [Probe.model_validate_json(b) for b in session.scalars(
            select(CrawlProbeRow.body).where(CrawlProbeRow.run_id == run_id)
            .order_by(CrawlProbeRow.probe_id))]
        observations = [(w, Observation.model_validate_json(b)) for w, b in session.execute(
            select(CrawlObservationRow.worker, CrawlObservationRow.body)
            .where(CrawlObservationRow.run_id == run_id)
            .order_by(CrawlObservationRow.probe_id))]
    return probes, observations
