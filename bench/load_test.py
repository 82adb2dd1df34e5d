"""Load test: gunicorn (2 workers) serving the demo organisation plus 10,000 synthetic
postmortems, on SQLite and on PostgreSQL, driven from the same machine.

Run:  make bench-load            (or .venv/bin/python bench/load_test.py [--postgres URL])
Targets (issue 8): postmortem pages >= 150 req/s and search >= 40 req/s at 20 concurrent
connections for 60 s each, p99 <= 500 ms, no errors; a save under that load is searchable
within 2 s. Prints Markdown for docs/performance.md. Loopback only; every server it starts
is stopped at the end. The PostgreSQL database it is given is emptied first.

The load generator is a small threaded HTTP/1.1 client (keep-alive, one connection per
thread): it shares the 2 CPUs with the server, so the figures are a floor.
"""

import argparse
import http.client
import json
import os
import platform
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import documents  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
WORDS = [
    "connection pool",
    "certificate",
    "retry policy",
    "resolver cache",
    "schema migration",
    "feature flag",
    "checkout-api",
    "alerting rule",
    "upstream provider",
    "rollback",
    "service:payments-gateway",
    "capacity",
]


def run(cmd, env, **kw):
    return subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, **kw)


def prepare(folder, database_url, count):
    """Migrate, seed the demo organisation, import `count` synthetic postmortems, index."""
    env = {**os.environ, "KB_INSTANCE_PATH": str(folder), "KB_LOG_FORMAT": "text"}
    env["KB_LOG_LEVEL"] = "WARNING"
    env["KB_SECRET_KEY"] = "load-test"
    if database_url:
        env["KB_DATABASE_URL"] = database_url
        from sqlalchemy import create_engine, text

        engine = create_engine(database_url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    run([str(BIN / "kb"), "db", "upgrade"], env)
    run([str(BIN / "kb"), "seed"], env)
    source = folder / "corpus.jsonl"
    docs = documents(count)
    source.write_text("".join(json.dumps(d) + "\n" for d in docs))
    started = time.perf_counter()
    run([str(BIN / "kb"), "import", str(source)], env, timeout=3600)
    imported = time.perf_counter() - started
    run([str(BIN / "kb"), "search", "reindex"], env, timeout=3600)
    refs = [d["ref"] for d in docs if d["visibility"] == "internal"]
    return env, refs, imported


class Server:
    def __init__(self, env, port, log):
        self.port = port
        self.env = {
            **env,
            "KB_BIND": f"127.0.0.1:{port}",
            "KB_WORKERS": "2",
            "KB_LOG_LEVEL": "WARNING",  # the access log of 20,000 requests is not the test
            "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="kb-load-metrics-"),
        }
        self.log = open(log, "wb")  # noqa: SIM115 (closed in stop)

    def start(self):
        self.process = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                status, _ = request(self.port, "GET", "/readyz")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError("the server did not become ready")

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def request(port, method, path, headers=None, body=None, connection=None):
    conn = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    if connection is None:
        conn.close()
    return response.status, data


def sign_in(port, email="admin@brightcart.example", password="hindsight-demo"):  # noqa: S107 (the demo)
    """A session cookie for the demo admin (sign-in form with its CSRF token)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/sign-in")
    response = conn.getresponse()
    page = response.read().decode()
    cookie = response.getheader("Set-Cookie").split(";")[0]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = urlencode({"email": email, "password": password, "csrf_token": token})
    headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
    conn.request("POST", "/sign-in", body=form, headers=headers)
    response = conn.getresponse()
    response.read()
    assert response.status == 302, response.status
    conn.close()
    return response.getheader("Set-Cookie").split(";")[0]


def load(port, cookie, paths, seconds, connections):
    """`connections` threads request random paths for `seconds`; latencies and errors."""
    latencies, errors = [], []
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def worker(seed):
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, bad = [], []
        while time.monotonic() < stop:
            path = rng.choice(paths)
            started = time.perf_counter()
            try:
                status, _ = request(port, "GET", path, {"Cookie": cookie}, connection=conn)
            except (OSError, http.client.HTTPException) as exc:
                bad.append(type(exc).__name__)
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            mine.append(time.perf_counter() - started)
            if status != 200:
                bad.append(status)
        conn.close()
        with lock:
            latencies.extend(mine)
            errors.extend(bad)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - began
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": pct(50),
        "p99": pct(99),
        "max": latencies[-1] * 1000,
        "errors": len(errors),
        "error_kinds": sorted({str(e) for e in errors})[:5],
    }


def save_becomes_searchable(port, cookie, token):
    """Save a postmortem through the API and time until the search page finds it."""
    word = f"quokka{random.randint(10_000, 99_999)}"
    body = json.dumps({"title": f"The {word} incident", "summary": f"{word} everywhere"})
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    status, data = request(port, "POST", "/api/v1/postmortems", headers, body)
    assert status == 201, (status, data[:300])
    ref = json.loads(data)["ref"]
    started = time.monotonic()
    while time.monotonic() - started < 30:
        status, page = request(port, "GET", f"/search?q={word}", {"Cookie": cookie})
        if status == 200 and ref.encode() in page:
            return time.monotonic() - started
        time.sleep(0.05)
    return float("inf")


def api_token(env):
    out = run(
        [str(BIN / "kb"), "tokens", "create", "admin@brightcart.example", "--name", "load"], env
    )
    return out.stdout.strip().split()[-1]


def measure(name, database_url, args):
    with tempfile.TemporaryDirectory(prefix="kb-load-") as tmp:
        folder = Path(tmp)
        print(f"[{name}] preparing {args.postmortems} postmortems ...", file=sys.stderr)
        env, refs, imported = prepare(folder, database_url, args.postmortems)
        token = api_token(env)
        server = Server(env, args.port, folder / "gunicorn.log")
        server.start()
        try:
            cookie = sign_in(args.port)
            pages = [f"/postmortems/{r}" for r in refs]
            searches = [f"/search?{urlencode({'q': w})}" for w in WORDS]
            warm = load(args.port, cookie, pages[:200] + searches, 5, args.connections)
            print(f"[{name}] warm-up {warm['rps']:.0f} req/s", file=sys.stderr)
            results = {}
            for label, paths in (("postmortem pages", pages), ("search", searches)):
                print(f"[{name}] {label}: {args.seconds} s ...", file=sys.stderr)
                outcome = {}
                saver = threading.Timer(
                    args.seconds / 2,
                    lambda o=outcome: o.update(
                        delay=save_becomes_searchable(args.port, cookie, token)
                    ),
                )
                saver.start()
                results[label] = load(args.port, cookie, paths, args.seconds, args.connections)
                saver.join()
                results[label]["save_to_search"] = outcome.get("delay", float("nan"))
        finally:
            server.stop()
        return results, imported


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--postgres", help="also run on this PostgreSQL database (emptied first)")
    parser.add_argument("--postmortems", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--port", type=int, default=5091)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    targets = [("SQLite", None)]
    if args.postgres:
        from kb.config import normalise_database_url

        targets.append(("PostgreSQL", normalise_database_url(args.postgres)))
    if args.only:
        targets = [t for t in targets if t[0].lower() == args.only]
    load_before = os.getloadavg()
    rows, notes = [], []
    for name, url in targets:
        results, imported = measure(name, url, args)
        notes.append(f"{name}: importing {args.postmortems} postmortems took {imported:.0f} s")
        for label, r in results.items():
            goal = 150 if label == "postmortem pages" else 40
            ok = (
                r["rps"] >= goal
                and r["p99"] <= 500
                and r["errors"] == 0
                and r["save_to_search"] <= 2
            )
            rows.append(
                f"| {name} | {label} | {r['requests']} | {r['rps']:.0f} (>= {goal}) | "
                f"{r['p50']:.0f} | {r['p99']:.0f} | {r['max']:.0f} | {r['errors']} "
                f"{' '.join(r['error_kinds'])} | {r['save_to_search']:.2f} | "
                f"{'met' if ok else 'NOT met'} |"
            )
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    print(
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} CPUs ({cpu}), "
        f"{run(['free', '-h'], os.environ).stdout.splitlines()[1].split()[1]} RAM; load average "
        f"before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}. gunicorn 2 workers x "
        f"4 threads; {args.connections} connections, {args.seconds} s per row.\n"
    )
    print(
        "| database | pages | requests | req/s | p50 ms | p99 ms | max ms | errors | "
        "save -> searchable (s) | targets |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    print()
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
