"""The document's vocabularies (kinds, statuses, severities, ...) and the clock of every row."""

from datetime import UTC, datetime

KINDS = ("incident", "near-miss", "game-day", "pre-mortem")
INCIDENT_KINDS = KINDS[:3]  # what happened; a pre-mortem is written before a change
DECISIONS = ("go", "go-with-conditions", "no-go")  # a pre-mortem's decision
LEVELS = ("low", "medium", "high")  # a risk's likelihood and impact
STATUSES = ("draft", "in-review", "published")
SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")
VISIBILITIES = ("internal", "restricted")
TRIGGERS = (
    "deploy",
    "config-change",
    "infrastructure",
    "dependency",
    "capacity",
    "security",
    "data",
    "external",
    "unknown",
)
CHANGE_TRIGGERS = ("deploy", "config-change")  # the figures' "triggered by a change"
ACTION_STATUSES = ("open", "in-progress", "done", "wont-do")
OPEN_ACTION_STATUSES = ("open", "in-progress")  # work still to do; overdue past its due date
SECTIONS = (
    "summary",
    "impact",
    "detection",
    "response",
    "went_well",
    "went_poorly",
    "got_lucky",
    "surprises",
    "lessons",
    "notes",
    "change",  # a pre-mortem: the planned change, what and why
    "rollback",  # a pre-mortem: the rollback plan
)
TIMESTAMPS = (
    "planned_at",  # a pre-mortem: when the change is planned
    "started_at",
    "detected_at",
    "mitigated_at",
    "resolved_at",
    "published_at",
)
ROLES = ("reader", "author", "admin")
# The largest value of an integer column on PostgreSQL (ids, revision numbers, versions): input
# is refused past it rather than handed to the database.
MAX_INT = 2**31 - 1


def utcnow():
    """The current time in UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0)
