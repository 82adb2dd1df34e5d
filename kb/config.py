"""Configuration: defaults, then KB_* environment variables, then explicit overrides."""

import os
import secrets
from pathlib import Path

DEFAULTS = {
    "DATABASE_URL": None,  # None: SQLite in the instance folder
    "INDEX_DIR": None,  # None: <instance>/index
    "SECRET_KEY": None,  # None: generated once and kept in <instance>/secret_key
    "BASE_URL": "http://127.0.0.1:5000",
    "SMTP_HOST": "localhost",
    "SMTP_PORT": 25,
    "SMTP_USERNAME": None,
    "SMTP_PASSWORD": None,
    "SMTP_STARTTLS": False,
    "MAIL_FROM": "Hindsight <hindsight@localhost>",
    "MAIL_BACKEND": "smtp",  # smtp | console (prints messages, for development) | memory (tests)
    "DIGEST_EXTRA_RECIPIENTS": "",  # comma-separated lists; they get the internal-only digest
    "AUTH_TRUSTED_HEADER": None,
    "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
    "ATTACHMENT_MAX_BYTES": 10 * 1024 * 1024,  # one attached file (images, logs, originals)
    # importing timeline entries (kb/timeline_sources): the upload, what it may unpack to
    # (a Slack export's zip), how many files it may hold, and the window's default margin
    "TIMELINE_IMPORT_MAX_BYTES": 25 * 1024 * 1024,
    "TIMELINE_IMPORT_MAX_UNPACKED": 50 * 1024 * 1024,
    "TIMELINE_IMPORT_MAX_FILES": 5000,
    "TIMELINE_IMPORT_MARGIN_MINUTES": 30,
    "LOGIN_RATE_LIMIT": 10,  # failed sign-ins per client address in LOGIN_RATE_WINDOW
    "LOGIN_ACCOUNT_LIMIT": 20,  # failed sign-ins per account in LOGIN_RATE_WINDOW (above ^)
    "LOGIN_RATE_WINDOW": 300,  # seconds
    "SESSION_HOURS": 12,
    # who may read drafts and postmortems in review: everyone (who may read the postmortem
    # once published) | involved (its authors, reviewers, team members and admins)
    "UNPUBLISHED_READERS": "involved",
    "SEARCH_SYNC": None,  # thread | inline | off; None: thread when serving, inline in tests
    "SYNONYMS": None,  # a TOML file of synonyms merged over kb/synonyms.toml (docs/search.md)
    # the change log is pruned below every search index's position (kb/changelog.py)
    "CHANGELOG_KEEP_HOURS": 24,  # changes younger than this are never pruned
    "CHANGELOG_FORGET_HOURS": 72,  # an index not heard of for this long no longer holds it back
    "CHANGELOG_PRUNE_MINUTES": 10,  # how often servers prune in the background; 0: never
    # operations (kb/ops, docs/operations.md)
    "LOG_FORMAT": None,  # json | text; None: json, or Flask's default when testing
    "LOG_LEVEL": "INFO",
    # proxies whose X-Forwarded-For (the client's address) and X-Request-ID are taken
    "TRUSTED_PROXIES": "127.0.0.1/32,::1/128",
    "READY_MAX_LAG": 1000,  # /readyz fails when the search index is further behind than this
    "METRICS_TOKEN": None,  # when set, /metrics also accepts `Authorization: Bearer <token>`
    "METRICS_ALLOW": "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16",
    # seconds one request to an issue tracker may take (kb actions sync, "Create in tracker")
    "TRACKER_TIMEOUT": 10.0,
    # outgoing webhooks (kb/hooks, docs/webhooks.md)
    "HOOKS_WORKER": None,  # on | off; None: on when serving, off in tests
    "HOOKS_TIMEOUT": 10.0,  # seconds one request to a hook may take (1 to 60)
    "HOOKS_POLL_SECONDS": 2.0,  # how often each server looks for deliveries due
}

UNPUBLISHED_READERS = ("involved", "everyone")

_INT_KEYS = {"SMTP_PORT", "MAX_CONTENT_LENGTH", "LOGIN_RATE_LIMIT", "LOGIN_RATE_WINDOW"}
_INT_KEYS |= {"LOGIN_ACCOUNT_LIMIT"}
_INT_KEYS |= {"READY_MAX_LAG", "ATTACHMENT_MAX_BYTES"}
_INT_KEYS |= {"TIMELINE_IMPORT_MAX_BYTES", "TIMELINE_IMPORT_MAX_UNPACKED"}
_INT_KEYS |= {"TIMELINE_IMPORT_MAX_FILES", "TIMELINE_IMPORT_MARGIN_MINUTES"}
_FLOAT_KEYS = {"SESSION_HOURS", "CHANGELOG_KEEP_HOURS", "CHANGELOG_FORGET_HOURS"}
_FLOAT_KEYS |= {"CHANGELOG_PRUNE_MINUTES", "TRACKER_TIMEOUT"}
_FLOAT_KEYS |= {"HOOKS_TIMEOUT", "HOOKS_POLL_SECONDS"}
_BOOL_KEYS = {"SMTP_STARTTLS"}


def _parse(key, raw):
    if key in _INT_KEYS:
        return int(raw)
    if key in _FLOAT_KEYS:
        return float(raw)
    if key in _BOOL_KEYS:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    return raw


def from_environment(environ=None):
    """Read every KB_<KEY> variable that names a known setting."""
    environ = os.environ if environ is None else environ
    values = {}
    for key in DEFAULTS:
        raw = environ.get(f"KB_{key}")
        if raw not in (None, ""):
            values[key] = _parse(key, raw)
    return values


def normalise_database_url(url):
    """Accept postgres:// and postgresql:// URLs and use the psycopg 3 driver for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def load(app, overrides=None):
    """Fill app.config from defaults, the environment and overrides, then derive paths."""
    app.config.from_mapping(DEFAULTS)
    app.config.update(from_environment())
    app.config.update(overrides or {})
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = f"sqlite:///{instance / 'hindsight.db'}"
    app.config["DATABASE_URL"] = normalise_database_url(app.config["DATABASE_URL"])
    if not app.config["INDEX_DIR"]:
        app.config["INDEX_DIR"] = str(instance / "index")
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _instance_secret(instance / "secret_key")
    app.config["BASE_URL"] = app.config["BASE_URL"].rstrip("/")
    readers = str(app.config["UNPUBLISHED_READERS"]).strip().lower()
    if readers not in UNPUBLISHED_READERS:
        raise ValueError(
            f"KB_UNPUBLISHED_READERS must be one of {', '.join(UNPUBLISHED_READERS)}"
            f" (got {app.config['UNPUBLISHED_READERS']!r})"
        )
    app.config["UNPUBLISHED_READERS"] = readers
    if not 0 < float(app.config["TRACKER_TIMEOUT"]) <= 120:
        raise ValueError(
            f"KB_TRACKER_TIMEOUT must be more than 0 and at most 120 seconds"
            f" (got {app.config['TRACKER_TIMEOUT']!r})"
        )
    _check_hooks(app.config)


def _check_hooks(config):
    worker = config["HOOKS_WORKER"]
    if worker not in (None, "") and str(worker).strip().lower() not in ("on", "off"):
        raise ValueError(f"KB_HOOKS_WORKER must be on or off (got {worker!r})")
    if not 1 <= float(config["HOOKS_TIMEOUT"]) <= 60:
        raise ValueError(
            f"KB_HOOKS_TIMEOUT must be 1 to 60 seconds (got {config['HOOKS_TIMEOUT']})"
        )
    if not 0.1 <= float(config["HOOKS_POLL_SECONDS"]) <= 10:
        raise ValueError(
            f"KB_HOOKS_POLL_SECONDS must be 0.1 to 10 seconds (got {config['HOOKS_POLL_SECONDS']})"
        )


def _instance_secret(path):
    """A random key kept in the instance folder, so sessions survive restarts."""
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key
