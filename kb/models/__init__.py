"""All database tables, by what they hold. Times are timezone-aware and stored in UTC.

vocabulary.py (the document's vocabularies and the clock), postmortems.py (postmortems and
what belongs to them), changes.py (the change log), accounts.py (people, tokens, the audit
log), derived.py (themes and similar incidents' terms: rebuildable), mail.py (the digest's
log and the review e-mail outbox), trackers.py (the issue trackers action items follow),
hooks.py (outgoing webhooks and their delivery queue).
Everything is importable from kb.models.
"""

from kb.models.accounts import (
    ApiToken,
    AuditEvent,
    LoginAttempt,
    Membership,
    User,
)
from kb.models.changes import (
    Change,
    ChangeFollower,
    ChangePrune,
)
from kb.models.derived import (
    PostmortemTerm,
    TermWeight,
    Theme,
    ThemeCuration,
    ThemeFactor,
    ThemeRun,
)
from kb.models.hooks import (
    Hook,
    HookAttempt,
    HookDelivery,
)
from kb.models.mail import (
    DigestSend,
    ReviewMail,
)
from kb.models.postmortems import (
    ActionItem,
    Attachment,
    Factor,
    Label,
    Postmortem,
    ReviewRequest,
    Revision,
    SectionHtml,
)
from kb.models.trackers import (
    Tracker,
    TrackerIssue,
)
from kb.models.vocabulary import (
    ACTION_STATUSES,
    CHANGE_TRIGGERS,
    DECISIONS,
    INCIDENT_KINDS,
    KINDS,
    LEVELS,
    MAX_INT,
    OPEN_ACTION_STATUSES,
    ROLES,
    SECTIONS,
    SEVERITIES,
    STATUSES,
    TIMESTAMPS,
    TRIGGERS,
    VISIBILITIES,
    utcnow,
)

__all__ = [
    "ACTION_STATUSES",
    "ActionItem",
    "ApiToken",
    "Attachment",
    "AuditEvent",
    "CHANGE_TRIGGERS",
    "Change",
    "ChangeFollower",
    "ChangePrune",
    "DECISIONS",
    "DigestSend",
    "Factor",
    "INCIDENT_KINDS",
    "Hook",
    "HookAttempt",
    "HookDelivery",
    "KINDS",
    "LEVELS",
    "Label",
    "LoginAttempt",
    "MAX_INT",
    "Membership",
    "OPEN_ACTION_STATUSES",
    "Postmortem",
    "PostmortemTerm",
    "ROLES",
    "ReviewMail",
    "ReviewRequest",
    "Revision",
    "SECTIONS",
    "SEVERITIES",
    "STATUSES",
    "SectionHtml",
    "TIMESTAMPS",
    "TRIGGERS",
    "TermWeight",
    "Tracker",
    "TrackerIssue",
    "Theme",
    "ThemeCuration",
    "ThemeFactor",
    "ThemeRun",
    "User",
    "VISIBILITIES",
    "utcnow",
]
