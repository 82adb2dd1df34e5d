"""All database tables, by what they hold. Times are timezone-aware and stored in UTC.

vocabulary.py (the document's vocabularies and the clock), postmortems.py (postmortems and
what belongs to them), changes.py (the change log), accounts.py (people, tokens, the audit
log), derived.py (themes and similar incidents' terms: rebuildable), mail.py (the digest's
log and the review e-mail outbox), hooks.py (outgoing webhooks and their delivery queue).
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
from kb.models.vocabulary import (
    ACTION_STATUSES,
    CHANGE_TRIGGERS,
    KINDS,
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
    "DigestSend",
    "Factor",
    "Hook",
    "HookAttempt",
    "HookDelivery",
    "KINDS",
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
    "Theme",
    "ThemeCuration",
    "ThemeFactor",
    "ThemeRun",
    "User",
    "VISIBILITIES",
    "utcnow",
]
