"""`kb backup` while postmortems are being written, and `kb restore` of what it took."""

import json
import threading
import time

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from kb import create_app, postmortems
from kb.document import validate
from kb.models import Postmortem, User
from kb.ops import backup
from kb.search import reporting
from tests.conftest import document


class Writer(threading.Thread):
    """Saves postmortems one after another, noting when each commit returned."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.engine = create_engine(url)
        self.committed = []  # (ref, monotonic time the commit returned)
        self.stop = threading.Event()
        self.error = None

    def run(self):
        try:
            with Session(self.engine) as session:
                i = 0
                while not self.stop.is_set():
                    i += 1
                    doc = validate(
                        document(title=f"Written under load {i}", ref=f"LOAD-2026-{i:04d}")
                    )
                    pm, _ = postmortems.save_document(session, doc)
                    session.commit()
                    self.committed.append((pm.ref, time.monotonic()))
        except Exception as exc:  # noqa: BLE001 (reported by the test)
            self.error = exc
        finally:
            self.engine.dispose()

    def wait_for(self, count, timeout=30):
        deadline = time.monotonic() + timeout
        while len(self.committed) < count:
            assert self.error is None, self.error
            assert time.monotonic() < deadline, "the writer did not get going"
            time.sleep(0.01)


@pytest.fixture
def restore_target(database_url, tmp_path):
    """An empty database of the same kind to restore into."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored' / 'hindsight.db'}"
        return
    url = make_url(database_url)
    name = f"{url.database}_restore"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        ).scalar()
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    # Reused by later runs (creating and dropping databases takes seconds): the restore
    # empties it first, which is part of what is tested.
    yield url.set(database=name).render_as_string(hide_password=False)


def _restored_app(url, tmp_path):
    return create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "restored-instance"),
            "DATABASE_URL": url,
            "SECRET_KEY": "test-secret",
        }
    )


def test_a_backup_under_write_load_restores_every_postmortem_committed_before_it(
    app, runner, database_url, restore_target, make_user, tmp_path
):
    make_user("keeper@x.example", role="admin")
    writer = Writer(database_url)
    writer.start()
    try:
        writer.wait_for(5)
        started = time.monotonic()
        dest = tmp_path / "backups" / "one"
        result = runner.invoke(args=["backup", str(dest)])
        writer.wait_for(len(writer.committed) + 3)  # still writing after the backup
    finally:
        writer.stop.set()
        writer.join(30)
    assert writer.error is None, writer.error
    assert result.exit_code == 0, result.output
    before = {ref for ref, at in writer.committed if at < started}
    assert len(before) >= 5

    manifest = json.loads((dest / "manifest.json").read_text())
    expected_snapshot = "hindsight.db" if database_url.startswith("sqlite") else "database.dump"
    assert manifest["snapshot"] == expected_snapshot
    assert (dest / expected_snapshot).stat().st_size > 0
    exported = {
        json.loads(line)["ref"]
        for line in (dest / "documents.jsonl").read_text().splitlines()
        if line.strip()
    }
    assert before <= exported
    assert manifest["postmortems"] == len(exported)  # the documents and the count: one moment

    restored = _restored_app(restore_target, tmp_path)
    try:
        outcome = restored.test_cli_runner().invoke(args=["restore", "--yes", str(dest)])
        assert outcome.exit_code == 0, outcome.output
        assert f"by {'sqlite' if expected_snapshot == 'hindsight.db' else 'pg_restore'}" in (
            outcome.output
        )
        with Session(restored.extensions["kb_engine"]) as session:
            refs = set(session.scalars(select(Postmortem.ref)))
            assert before <= refs
            assert refs == exported
            # The snapshot brings the accounts back too.
            assert session.scalars(select(User.email)).all() == ["keeper@x.example"]
            with restored.app_context():
                report = reporting.check(session, restored)
        assert not report.drift and report.indexed == len(exported)
    finally:
        restored.extensions["kb_engine"].dispose()


def test_restore_from_documents_brings_the_postmortems_back_without_accounts(
    app, runner, make_postmortem, make_user, tmp_path
):
    make_user("someone@x.example")
    refs = {make_postmortem(title=f"Kept {i}").ref for i in range(3)}
    dest = tmp_path / "backup"
    assert runner.invoke(args=["backup", str(dest)]).exit_code == 0
    url = f"sqlite:///{tmp_path / 'other' / 'hindsight.db'}"
    restored = _restored_app(url, tmp_path)
    try:
        outcome = restored.test_cli_runner().invoke(
            args=["restore", "--yes", "--from-documents", str(dest)]
        )
        assert outcome.exit_code == 0, outcome.output
        assert "Restored 3 postmortems by documents" in outcome.output
        with Session(restored.extensions["kb_engine"]) as session:
            assert set(session.scalars(select(Postmortem.ref))) == refs
            assert session.scalars(select(User)).all() == []
    finally:
        restored.extensions["kb_engine"].dispose()


def test_backup_and_restore_refuse_what_they_cannot_do(app, runner, tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "something").write_text("x")
    refused = runner.invoke(args=["backup", str(taken)])
    assert refused.exit_code == 1
    assert "already exists and is not an empty folder" in refused.output
    not_a_backup = runner.invoke(args=["restore", "--yes", str(taken)])
    assert not_a_backup.exit_code == 1
    assert "is not a Hindsight backup" in not_a_backup.output
    with pytest.raises(backup.BackupError, match="in-memory"):
        backup._sqlite_path("sqlite://")
