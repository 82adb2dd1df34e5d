"""The largest and worst uploads the timeline import accepts, each timed as one API request.

Run: .venv/bin/python bench/timeline_import.py

In a temporary instance on SQLite, as an author, `POST /api/v1/postmortems/<ref>/timeline/
import?dry_run=true` (read, change nothing) with, at the default limits:
- a Slack export whose one channel holds just under KB_TIMELINE_IMPORT_MAX_UNPACKED of
  messages on the window's days (every message in the window);
- the same export with 60 channels and no channel named (the question is answered from the
  zip's directory, without reading);
- a zip bomb: 1 GiB of spaces packed into about 1 MiB;
- a zip of KB_TIMELINE_IMPORT_MAX_FILES files, and of one more;
- a PagerDuty answer of KB_TIMELINE_IMPORT_MAX_BYTES; a CSV of the most rows read (20,000);
then the page's preview of 500 entries and adding all 500 (one revision).
CPU is the thread's (`time.thread_time`) for the whole request through Flask's test client
(which serves in the calling thread), so it includes building the request.
Prints Markdown for docs/performance.md. Writes nothing into the project.
"""

import io
import json
import os
import platform
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REF = "INC-2026-014"
START = 1772442840  # 2026-03-02T09:14:00Z, when the benchmark's incident started
PASSWORD = "correct horse battery"


def zipped(files, level=6):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for name, data in files:
            archive.writestr(name, data)
    return buffer.getvalue()


def slack_day(count, channel_number, spread):
    """A day file of `count` messages within `spread` seconds of the incident's start."""
    messages = [
        {
            "type": "message",
            "user": f"U{i % 40:03d}",
            "ts": f"{START + i * spread // count}.{channel_number:06d}",
            "text": f"update {i}: <@U{(i + 1) % 40:03d}> see <https://grafana.example/d/{i}|the "
            "dashboard>; error rate still above the threshold, rolling back the last change",
        }
        for i in range(count)
    ]
    return json.dumps(messages).encode()


def users():
    return json.dumps(
        [{"id": f"U{i:03d}", "name": f"user{i}", "real_name": f"Person {i}"} for i in range(40)]
    ).encode()


def one_busy_channel(limit):
    """An export whose one channel holds just under `limit` bytes of messages in the window."""
    probe = len(slack_day(1000, 1, 3 * 3600))
    day = slack_day(int(1000 * limit * 0.9 / probe), 1, 3 * 3600)
    return zipped([("users.json", users()), ("inc/2026-03-02.json", day)]), len(day)


def many_channels(count=60):
    files = [("users.json", users())]
    files += [(f"chan-{c}/2026-03-02.json", slack_day(1500, c, 3 * 3600)) for c in range(count)]
    return zipped(files)


def bomb():
    buffer = io.BytesIO()
    chunk = b" " * (1024 * 1024)
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("inc/2026-03-02.json", "w") as member,
    ):
        for _ in range(1024):
            member.write(chunk)
    return buffer.getvalue()


def pagerduty(size):
    entry = {
        "type": "notify_log_entry",
        "summary": "Notified a responder by SMS about the checkout error rate",
        "agent": {"type": "service_reference", "summary": "checkout-api"},
    }
    one = len(json.dumps({**entry, "created_at": "2026-03-02T09:14:00Z"})) + 2
    items = [
        {**entry, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(START + i % 9000))}
        for i in range((size - 1024) // one)
    ]
    return json.dumps({"log_entries": items}).encode()


def csv_rows(count):
    return "".join(
        f"2026-03-02T09:{i % 60:02d}:{i % 59:02d}Z,row {i}\n" for i in range(count)
    ).encode()


def main():
    folder = tempfile.mkdtemp(prefix="kb-timeline-import-")
    from kb import accounts, create_app, migrations, postmortems
    from kb.db import get_session
    from kb.document import validate

    database = f"sqlite:///{folder}/hindsight.db"
    migrations.upgrade("head", url=database)
    app = create_app(
        {
            "INSTANCE_PATH": str(Path(folder) / "instance"),
            "DATABASE_URL": database,
            "SEARCH_SYNC": "off",
        }
    )
    with app.app_context():
        session = get_session()
        accounts.create_user(session, "writer@x.example", "author", password=PASSWORD)
        raw = {
            "ref": REF,
            "title": "Checkout errors after a configuration push",
            "authors": ["writer@x.example"],
            "started_at": "2026-03-02T09:14:00Z",
            "resolved_at": "2026-03-02T11:40:00Z",
        }
        postmortems.save_document(session, validate(raw))
        _row, token = accounts.create_token(session, "writer@x.example", "bench")
        session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    limits = app.config
    url = f"/api/v1/postmortems/{REF}/timeline/import?dry_run=true"

    def served(data, **fields):
        name = fields.pop("name", "upload")
        cpu, wall = time.thread_time(), time.perf_counter()
        response = client.post(
            url,
            data={**fields, "file": (io.BytesIO(data), name)},
            headers=headers,
            content_type="multipart/form-data",
        )
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        body = response.get_json(silent=True) or {}
        if response.status_code == 200:
            outcome = f"200: {len(body['entries'])} entries, {body['left_out']:,} more left out"
        else:
            outcome = f"{response.status_code}: {body.get('error', {}).get('message', '')[:110]}"
        return cpu, wall, outcome

    rows = []
    busy, size = one_busy_channel(limits["TIMELINE_IMPORT_MAX_UNPACKED"])
    rows.append(
        (
            f"Slack, one channel: {size / 2**20:.0f} MiB of messages in the window "
            f"({len(busy) / 2**20:.1f} MiB zipped)",
            *served(busy, source="slack", name="busy.zip"),
        )
    )
    many = many_channels()
    rows.append(
        (
            f"Slack, 60 busy channels, none named ({len(many) / 2**20:.1f} MiB zipped)",
            *served(many, source="slack", name="many.zip"),
        )
    )
    rows.append(
        ("Slack, 60 busy channels, one named", *served(many, source="slack", channel="chan-7"))
    )
    packed = bomb()
    rows.append(
        (
            f"zip bomb: 1 GiB of spaces in {len(packed) / 2**20:.1f} MiB",
            *served(packed, source="slack", name="bomb.zip"),
        )
    )
    most = limits["TIMELINE_IMPORT_MAX_FILES"]
    for count in (most, most + 1):
        files = [(f"c{i}/2026-03-02.json", b"[]") for i in range(count)]
        rows.append((f"zip of {count:,} files", *served(zipped(files), source="slack")))
    size = limits["TIMELINE_IMPORT_MAX_BYTES"] - 128 * 1024
    rows.append(
        (
            f"PagerDuty answer of {size / 2**20:.1f} MiB",
            *served(pagerduty(size), source="pagerduty", name="log.json"),
        )
    )
    rows.append(("CSV of 20,000 rows", *served(csv_rows(20_000), source="csv", name="t.csv")))

    # The page: the preview of 500 entries, then adding all of them.
    page = app.test_client()
    page.get("/sign-in")

    def csrf_token(path):
        body = page.get(path).get_data(as_text=True)
        marker = 'name="csrf_token" value="'
        return body[body.index(marker) + len(marker) :].split('"', 1)[0]

    signed_in = page.post(
        "/sign-in",
        data={
            "email": "writer@x.example",
            "password": PASSWORD,
            "csrf_token": csrf_token("/sign-in"),
        },
    )
    assert signed_in.status_code == 302, signed_in.status_code
    csrf = csrf_token(f"/postmortems/{REF}/timeline/import")
    five_hundred = "".join(
        f"2026-03-02T10:{i // 60:02d}:{i % 60:02d}Z,entry {i}\n" for i in range(500)
    )
    cpu, wall = time.thread_time(), time.perf_counter()
    preview = page.post(
        f"/postmortems/{REF}/timeline/import",
        data={
            "csrf_token": csrf,
            "source": "csv",
            "tz": "UTC",
            "file": (io.BytesIO(five_hundred.encode()), "t.csv"),
        },
        content_type="multipart/form-data",
    )
    rows.append(
        (
            "the page's preview of 500 entries",
            time.thread_time() - cpu,
            time.perf_counter() - wall,
            f"{preview.status_code}: {len(preview.data) // 1024} KiB of HTML",
        )
    )
    import html
    import re

    chosen = [
        html.unescape(v)
        for v in re.findall(r'name="entry" value="([^"]*)"', preview.get_data(as_text=True))
    ]
    cpu, wall = time.thread_time(), time.perf_counter()
    added = page.post(
        f"/postmortems/{REF}/timeline/import/confirm",
        data={"csrf_token": csrf, "version": "1", "tz": "UTC", "source": "csv", "entry": chosen},
        content_type="multipart/form-data",
    )
    rows.append(
        (
            f"adding the {len(chosen)} chosen entries (one revision)",
            time.thread_time() - cpu,
            time.perf_counter() - wall,
            f"{added.status_code} to {added.location}",
        )
    )

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; load average {load}.\n"
    )
    print("| upload | CPU (s) | wall (s) | outcome |\n| --- | --- | --- | --- |")
    for name, cpu, wall, outcome in rows:
        print(f"| {name} | {cpu:.2f} | {wall:.2f} | {outcome.replace('|', '/')} |")
    app.extensions["kb_engine"].dispose()


if __name__ == "__main__":
    main()
