"""Backups that can be taken while the app serves, and restoring them.

A backup is a folder:
  manifest.json     what it holds: when, from which database kind, schema revision, counts
  hindsight.db      SQLite: a copy made with SQLite's online backup API (one consistent read)
  database.dump     PostgreSQL: `pg_dump --format=custom`, when pg_dump is installed
  documents.jsonl   every postmortem in the document format (docs/document-format.md)

Both parts show the same moment: on SQLite the documents are exported from the copy; on
PostgreSQL pg_dump joins the snapshot of the transaction the documents are exported in
(pg_export_snapshot). Anything committed before the backup started is in it.
"""

import json
import os
import shutil
import sqlite3
import subprocess
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from kb import transfer
from kb.models import Postmortem

FORMAT = 1
MANIFEST = "manifest.json"
DOCUMENTS = "documents.jsonl"
SQLITE_COPY = "hindsight.db"
PG_DUMP = "database.dump"


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message says why and what to do."""


@dataclass
class Manifest:
    format: int = FORMAT
    created_at: str = ""
    database: str = ""  # sqlite | postgresql
    revision: str | None = None
    postmortems: int = 0
    documents: str = DOCUMENTS
    snapshot: str | None = None  # SQLITE_COPY, PG_DUMP or None (documents only)
    seconds: float = 0.0
    warnings: list = field(default_factory=list)


def kind_of(url):
    """sqlite or postgresql, from a database URL."""
    backend = make_url(str(url)).get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise BackupError(f"backups support SQLite and PostgreSQL, not {backend}")
    return backend


# --- backup -------------------------------------------------------------------------------


def backup(session, dest, *, progress=None):
    """Write a consistent backup of the session's database into the new folder `dest`."""
    started = time.monotonic()
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"{dest} already exists and is not an empty folder: choose a new one")
    engine = session.get_bind()
    kind = kind_of(engine.url)
    dest.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(created_at=datetime.now(UTC).isoformat(timespec="seconds"), database=kind)
    try:
        if kind == "sqlite":
            _backup_sqlite(engine.url, dest, manifest, progress)
        else:
            _backup_postgresql(engine, dest, manifest, progress)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)  # never leave a backup that looks complete
        raise
    manifest.seconds = round(time.monotonic() - started, 2)
    (dest / MANIFEST).write_text(json.dumps(asdict(manifest), indent=2) + "\n")
    return manifest


def _sqlite_path(url):
    database = make_url(str(url)).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(database)


def _backup_sqlite(url, dest, manifest, progress):
    source = sqlite3.connect(_sqlite_path(url), timeout=30)
    target = sqlite3.connect(dest / SQLITE_COPY)
    try:
        # pages=-1: one step under one read transaction, so the copy is one moment even while
        # others write (in WAL mode they are not blocked meanwhile).
        source.backup(target, pages=-1)
    finally:
        target.close()
        source.close()
    manifest.snapshot = SQLITE_COPY
    copy = create_engine(f"sqlite:///{dest / SQLITE_COPY}")
    try:
        with Session(copy) as snapshot:
            _export(snapshot, dest, manifest, progress)
    finally:
        copy.dispose()


def _backup_postgresql(engine, dest, manifest, progress):
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            snapshot_id = connection.execute(text("SELECT pg_export_snapshot()")).scalar()
            if shutil.which("pg_dump"):
                # pg_dump reads the very snapshot the documents are exported from, while this
                # transaction stays open.
                result = subprocess.run(
                    [
                        "pg_dump",
                        "--format=custom",
                        "--no-owner",
                        "--no-privileges",
                        f"--snapshot={snapshot_id}",
                        f"--file={dest / PG_DUMP}",
                        *_libpq_args(engine.url),
                    ],
                    env=_libpq_env(engine.url),
                    capture_output=True,
                    text=True,
                    timeout=3600,
                )
                if result.returncode == 0:
                    manifest.snapshot = PG_DUMP
                else:
                    (dest / PG_DUMP).unlink(missing_ok=True)
                    manifest.warnings.append(f"pg_dump failed: {result.stderr.strip()[:500]}")
            else:
                manifest.warnings.append("pg_dump is not installed: documents only")
            with Session(bind=connection) as snapshot:
                _export(snapshot, dest, manifest, progress)


def _export(session, dest, manifest, progress):
    manifest.revision = _revision(session)
    manifest.postmortems = session.execute(select(func.count()).select_from(Postmortem)).scalar()
    refusable = []
    transfer.export_documents(session, dest / DOCUMENTS, progress=progress, refusable=refusable)
    manifest.warnings += [
        f"{DOCUMENTS}: {problem} (a restore from documents would refuse it)"
        for problem in refusable
    ]


def _revision(session):
    try:
        with session.begin_nested():
            return session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:  # noqa: BLE001 (an unmigrated database has no revision)
        return None


def _libpq_args(url):
    url = make_url(str(url))
    args = []
    if url.host:
        args.append(f"--host={url.host}")
    if url.port:
        args.append(f"--port={url.port}")
    if url.username:
        args.append(f"--username={url.username}")
    args.append(f"--dbname={url.database}")
    return args


def _libpq_env(url):
    # The password goes through the environment, never the command line (ps shows that).
    env = dict(os.environ)
    password = make_url(str(url)).password
    if password:
        env["PGPASSWORD"] = str(password)
    return env


# --- restore ------------------------------------------------------------------------------


def read_manifest(src):
    """The manifest of a backup folder, checked."""
    src = Path(src)
    path = src / MANIFEST
    if not path.is_file():
        raise BackupError(f"{src} is not a Hindsight backup: it has no {MANIFEST}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise BackupError(f"{path} is damaged: {exc}") from exc
    if not isinstance(data, dict):
        raise BackupError(f"{path} is damaged: it is not a JSON object")
    if data.get("format") != FORMAT:
        raise BackupError(f"{path}: backup format {data.get('format')} is not supported")
    known = set(Manifest.__dataclass_fields__)
    manifest = Manifest(**{k: v for k, v in data.items() if k in known})
    _check_inside(src, "documents", manifest.documents)
    if manifest.snapshot is not None:
        _check_inside(src, "snapshot", manifest.snapshot)
    if not (src / manifest.documents).is_file():
        raise BackupError(f"{src} is incomplete: {manifest.documents} is missing")
    return manifest


def _check_inside(src, key, name):
    """A file the manifest names must be a file of the backup folder itself.

    Restore reads what the manifest points at; a manifest saying "../x" or "/x" (or a link
    leading out) would restore from somewhere the person never chose.
    """
    refusal = (
        f"{src / MANIFEST}: {key} must name a file in the backup folder, not {name!r}. "
        "The manifest is damaged or was altered; nothing was restored."
    )
    plain = isinstance(name, str) and name not in ("", ".", "..") and "\\" not in name
    if not plain or Path(name).name != name:
        raise BackupError(refusal)
    target = src / name
    if target.exists() and target.resolve().parent != src.resolve():
        raise BackupError(refusal)


def restore_method(manifest, src, target_url, from_documents=False):
    """How a backup would be restored into `target_url`: "sqlite", "pg_restore" or "documents"."""
    if from_documents or manifest.snapshot is None or not (Path(src) / manifest.snapshot).exists():
        return "documents"
    target = kind_of(target_url)
    if manifest.database != target:
        return "documents"
    if target == "postgresql":
        return "pg_restore" if shutil.which("pg_restore") else "documents"
    return "sqlite"


@dataclass
class RestoreReport:
    method: str
    postmortems: int = 0  # in the restored database
    expected: int = 0  # in the backup's manifest
    problems: list = field(default_factory=list)

    @property
    def missing(self):
        """How many postmortems of the backup did not make it into the database."""
        return max(self.expected - self.postmortems, 0)


def restore(src, target_url, *, from_documents=False, progress=None):
    """Replace the database at `target_url` with the backup in `src` and migrate it to head.

    The app servers should be stopped (or at least not writing) meanwhile. The search index
    is not touched here: the caller rebuilds it (kb.search.service, `rebuild`).
    """
    from kb import migrations

    manifest = read_manifest(src)
    src = Path(src)
    method = restore_method(manifest, src, target_url, from_documents)
    report = RestoreReport(method=method)
    if kind_of(target_url) == "sqlite":
        _sqlite_path(target_url).parent.mkdir(parents=True, exist_ok=True)
    if method == "sqlite":
        _restore_sqlite(src / manifest.snapshot, target_url)
    elif method == "pg_restore":
        _restore_postgresql(src / manifest.snapshot, target_url)
    else:
        _empty_database(target_url)
    migrations.upgrade("head", url=str(target_url))
    engine = create_engine(str(target_url))
    try:
        with Session(engine) as session:
            if method == "documents":
                records = transfer.read_records(src / manifest.documents)
                imported = transfer.import_records(session, records, progress=progress)
                report.problems = imported.problems
                session.commit()
            report.postmortems = session.execute(
                select(func.count()).select_from(Postmortem)
            ).scalar()
    finally:
        engine.dispose()
    report.expected = manifest.postmortems
    if report.missing:
        # Every refused document is named above; this also catches the ones that were never
        # there to refuse (a documents file cut short).
        report.problems.append(
            f"the backup holds {manifest.postmortems} postmortems but only "
            f"{report.postmortems} were restored: {report.missing} missing"
        )
    return report


def _restore_sqlite(snapshot, target_url):
    path = _sqlite_path(target_url)
    source = sqlite3.connect(snapshot)
    target = sqlite3.connect(path, timeout=30)
    try:
        source.backup(target, pages=-1)  # replaces every page of the target in one step
    finally:
        target.close()
        source.close()


def _restore_postgresql(dump, target_url):
    _empty_database(target_url)
    result = subprocess.run(
        [
            "pg_restore",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            *_libpq_args(target_url),
            str(dump),
        ],
        env=_libpq_env(target_url),
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if result.returncode != 0:
        raise BackupError(
            f"pg_restore failed (the database is now empty; run the restore again, or add "
            f"--from-documents): {result.stderr.strip()[:1000]}"
        )


def _empty_database(target_url):
    """Drop every table (PostgreSQL: the public schema; SQLite: every table)."""
    engine = create_engine(str(target_url))
    try:
        with engine.begin() as connection:
            if kind_of(target_url) == "postgresql":
                connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
            else:
                connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                names = connection.execute(
                    text("SELECT name FROM sqlite_master WHERE type = 'table'")
                ).scalars()
                for name in [n for n in names if not n.startswith("sqlite_")]:
                    connection.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')
    finally:
        engine.dispose()
