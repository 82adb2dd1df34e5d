"""Real servers for fault tests: gunicorn running Hindsight, and a private PostgreSQL."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from glob import glob
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(ROOT / ".venv" / "bin")


def free_port():
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, interval=0.05, message="timed out"):
    """Call predicate until it returns something true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(interval)


class Gunicorn:
    """gunicorn -c deploy/gunicorn.conf.py serving `app_spec`, on a free port of its own."""

    def __init__(self, folder, env, app_spec="wsgi:app", workers=2, threads=2):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.folder / "gunicorn.log"
        metrics = self.folder / "metrics"
        metrics.mkdir(exist_ok=True)
        self.env = {
            **os.environ,
            "KB_BIND": f"127.0.0.1:{self.port}",
            "KB_WORKERS": str(workers),
            "KB_THREADS": str(threads),
            "KB_LOG_FORMAT": "json",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics),
            "PYTHONPATH": str(ROOT),
            **env,
        }
        self.app_spec = app_spec
        self.process = None

    def __enter__(self):
        log = open(self.log_path, "ab")  # noqa: SIM115 (closed in __exit__)
        self._log = log
        self.process = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), self.app_spec],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_until(self._answers, 60, 0.1, f"gunicorn did not start: see {self.log_path}")
        return self

    def _answers(self):
        assert self.process.poll() is None, self.log()
        try:
            return requests.get(self.url + "/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def log(self):
        return self.log_path.read_text(errors="replace")[-5000:]

    def __exit__(self, *_exc):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()


def postgres_binaries():
    """The folder with initdb and pg_ctl, or None."""
    found = sorted(glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class PrivatePostgres:
    """A PostgreSQL server of the test's own (initdb in a temporary folder, a free port), so it
    can be stopped and started without touching the machine's shared one."""

    def __init__(self):
        self.bin = postgres_binaries()
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="kb-pg-"))  # /tmp: the server user can reach it
        self.data = self.folder / "data"
        self.as_user = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            self.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.folder, "postgres")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/hindsight"

    def _run(self, *args, timeout=60):
        return subprocess.run(
            [*self.as_user, *args], capture_output=True, text=True, timeout=timeout, check=True
        )

    def start(self):
        """Start the server and wait until it accepts connections."""
        self._run(
            str(self.bin / "pg_ctl"),
            "start",
            "--wait",
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "server.log"),
            "-o",
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off",
        )

    def stop(self, mode="fast"):
        """Stop the server (fast: roll back open transactions and disconnect everyone)."""
        self._run(str(self.bin / "pg_ctl"), "stop", "--wait", "-m", mode, "-D", str(self.data))

    def __enter__(self):
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        self.start()
        self._run(
            str(self.bin / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "hindsight",
        )
        return self

    def __exit__(self, *_exc):
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)
