"""Gunicorn settings for Hindsight: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`.

Sized from the CPUs this process may use: one worker process per CPU (at least 2, so one
busy worker never stalls the server), each with a few threads for requests that wait on the
database. Override with KB_WORKERS, KB_THREADS and KB_BIND. See docs/operations.md.
"""

import os
import tempfile

from kb.ops.observability import JsonFormatter

try:
    cpus = len(os.sched_getaffinity(0))  # the CPUs a container or taskset allows
except AttributeError:  # not Linux
    cpus = os.cpu_count() or 1

bind = os.environ.get("KB_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("KB_WORKERS") or max(2, cpus))
threads = int(os.environ.get("KB_THREADS") or 4)
worker_class = "gthread"
timeout = 30  # a worker silent this long is killed and replaced
graceful_timeout = 30
keepalive = 5
max_requests = 10_000  # recycle workers now and then; the jitter keeps them from all going at once
max_requests_jitter = 1_000
# gunicorn >= 24 opens a control socket under $HOME: several servers on one host would share it.
control_socket_disable = True
forwarded_allow_ips = os.environ.get("KB_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# The app writes one JSON line per request itself (with the request id); gunicorn's own
# lines (start, stop, worker timeouts) go out as JSON too.
accesslog = None
errorlog = "-"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": JsonFormatter}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"level": "INFO", "handlers": []},  # the app adds its own (kb/ops/observability.py)
    "loggers": {
        "gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
    },
}

# Request metrics are shared by the workers through files in this folder (prometheus_client's
# multiprocess mode); it must be set before any worker imports the app.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="hindsight-metrics-")


def on_starting(server):
    """Forget the counters of a previous run (the folder may be reused)."""
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if name.endswith(".db"):
            os.unlink(os.path.join(folder, name))


def post_worker_init(worker):
    """Start the worker's search sync and read its in-memory figures and similar-incidents
    index at once, before traffic comes."""
    try:
        from kb.search.service import service_for

        service_for(worker.wsgi).start()
    except Exception:  # noqa: BLE001 (search starts on the first request instead)
        worker.log.exception("could not start the search sync")
    try:
        from kb.insights import postings, snapshot

        # Read in the background what the first figures view and similar-incidents lookup
        # would otherwise read (about 1.5 s each at 50,000 postmortems).
        snapshot.warm_in_background(worker.wsgi)
        postings.warm_in_background(worker.wsgi)
    except Exception:  # noqa: BLE001 (the first views read them instead)
        worker.log.exception("could not start reading the figures and similar incidents")


def child_exit(server, worker):
    """A worker is gone: its live gauges no longer count."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
