"""All database tables. Times are timezone-aware and stored in UTC."""

from datetime import UTC, date, datetime

from sqlalchemy import JSON, Column, Index, LargeBinary, Text, UniqueConstraint, false, func
from sqlmodel import Field, Relationship, SQLModel

KINDS = ("incident", "near-miss", "game-day")
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
)
TIMESTAMPS = ("started_at", "detected_at", "mitigated_at", "resolved_at", "published_at")
ROLES = ("reader", "author", "admin")
# The largest value of an integer column on PostgreSQL (ids, revision numbers, versions): input
# is refused past it rather than handed to the database.
MAX_INT = 2**31 - 1


def utcnow():
    """The current time in UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0)


class Postmortem(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(max_length=64, unique=True, index=True)
    title: str = Field(max_length=200)
    kind: str = Field(default="incident", max_length=16, index=True)
    status: str = Field(default="draft", max_length=16, index=True)
    severity: str | None = Field(default=None, max_length=8, index=True)
    visibility: str = Field(default="internal", max_length=16, index=True)
    trigger: str = Field(default="unknown", max_length=32)
    started_at: datetime | None = Field(default=None, index=True)
    detected_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    published_at: datetime | None = Field(default=None, index=True)
    summary: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    impact: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    detection: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    response: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    went_well: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    went_poorly: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    got_lucky: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    surprises: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    lessons: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    notes: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    timeline: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    links: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    labels: list["Label"] = Relationship(
        back_populates="postmortem",
        sa_relationship_kwargs={
            "cascade": "all, delete-orphan",
            "order_by": "(Label.field, Label.position)",
        },
    )
    factors: list["Factor"] = Relationship(
        back_populates="postmortem",
        sa_relationship_kwargs={"cascade": "all, delete-orphan", "order_by": "Factor.position"},
    )
    action_items: list["ActionItem"] = Relationship(
        back_populates="postmortem",
        sa_relationship_kwargs={
            "cascade": "all, delete-orphan",
            "order_by": "ActionItem.position",
        },
    )
    rendered: list["SectionHtml"] = Relationship(
        back_populates="postmortem", sa_relationship_kwargs={"cascade": "all, delete-orphan"}
    )

    def label_values(self, field):
        """The values of one list field (authors, teams, services, tags, readers), in order."""
        return [label.value for label in self.labels if label.field == field]


# Refs are unique ignoring case (INC-123 and inc-123 name one postmortem); lookups use it too.
Index("ux_postmortem_ref_lower", func.lower(Postmortem.__table__.c.ref), unique=True)


class Label(SQLModel, table=True):
    """One value of a list field of a postmortem (an author, a team, a service, a tag...)."""

    __table_args__ = (Index("ix_label_field_value", "field", "value"),)

    id: int | None = Field(default=None, primary_key=True)
    postmortem_id: int = Field(foreign_key="postmortem.id", ondelete="CASCADE", index=True)
    field: str = Field(max_length=16)
    value: str = Field(max_length=254)
    position: int = 0

    postmortem: Postmortem = Relationship(back_populates="labels")


class Factor(SQLModel, table=True):
    """A contributing factor of a postmortem."""

    id: int | None = Field(default=None, primary_key=True)
    postmortem_id: int = Field(foreign_key="postmortem.id", ondelete="CASCADE", index=True)
    position: int = 0
    text: str = Field(sa_column=Column(Text, nullable=False))
    category: str | None = Field(default=None, max_length=60)

    postmortem: Postmortem = Relationship(back_populates="factors")


class ActionItem(SQLModel, table=True):
    """A follow-up action of a postmortem."""

    id: int | None = Field(default=None, primary_key=True)
    postmortem_id: int = Field(foreign_key="postmortem.id", ondelete="CASCADE", index=True)
    position: int = 0
    title: str = Field(max_length=300)
    owner: str | None = Field(default=None, max_length=254)
    due: date | None = Field(default=None, index=True)
    status: str = Field(default="open", max_length=16, index=True)
    url: str | None = Field(default=None, max_length=2000)
    factor: int | None = None

    postmortem: Postmortem = Relationship(back_populates="action_items")


class SectionHtml(SQLModel, table=True):
    """A section of a postmortem rendered once, at save: Markdown to sanitised HTML."""

    postmortem_id: int = Field(foreign_key="postmortem.id", ondelete="CASCADE", primary_key=True)
    section: str = Field(max_length=32, primary_key=True)
    source: str = Field(max_length=64)  # kb.markdown.fingerprint of the text it was made from
    html: str = Field(sa_column=Column(Text, nullable=False))
    refused: str | None = Field(default=None, max_length=200)  # why it is shown as typed

    postmortem: Postmortem = Relationship(back_populates="rendered")


class Attachment(SQLModel, table=True):
    """A file of a postmortem (a graph, a log excerpt, the original of an imported write-up),
    kept in the database so that every server and every backup has it."""

    id: int | None = Field(default=None, primary_key=True)
    postmortem_id: int = Field(foreign_key="postmortem.id", ondelete="CASCADE", index=True)
    name: str = Field(max_length=120)
    content_type: str = Field(max_length=64)  # read from the content, never from the name
    size: int
    sha256: str = Field(max_length=64)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    origin: str = Field(default="upload", max_length=16)  # upload | import
    created_by_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)


class Revision(SQLModel, table=True):
    """A saved state of a postmortem: every save that changes content adds one.

    Its number is the postmortem's version it holds (the number the editor, the page and the
    API show). Autosaves of one editing session fold into one revision, which then holds the
    latest version and keeps when the session's first save was (`started_at`).
    """

    __table_args__ = (UniqueConstraint("postmortem_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    postmortem_id: int = Field(foreign_key="postmortem.id", ondelete="CASCADE", index=True)
    number: int
    author_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
    # The first save folded into this revision (autosaves); None for a revision of one save.
    started_at: datetime | None = None
    note: str = Field(default="", max_length=500)
    # The note of an amendment (a change to a published postmortem), shown on its page; ""
    # for every other revision.
    amendment: str = Field(default="", max_length=200)
    document: dict = Field(sa_column=Column(JSON, nullable=False))


class ReviewRequest(SQLModel, table=True):
    """A request that one person review a postmortem, and their decision."""

    id: int | None = Field(default=None, primary_key=True)
    postmortem_id: int = Field(foreign_key="postmortem.id", ondelete="CASCADE", index=True)
    reviewer_id: int = Field(foreign_key="user.id", ondelete="CASCADE", index=True)
    requested_by_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    state: str = Field(default="pending", max_length=24)  # pending | approved | changes-requested
    comment: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = Field(default_factory=utcnow)
    decided_at: datetime | None = None


class Change(SQLModel, table=True):
    """The change log: one row per change to a postmortem, written in the same transaction.

    Derived stores (the search index) apply it in id order and remember the last id applied.
    Rows every follower has applied are pruned (kb/changelog.py).
    """

    id: int | None = Field(default=None, primary_key=True)
    postmortem_id: int = Field(index=True)
    ref: str = Field(max_length=64)
    op: str = Field(max_length=8)  # upsert | delete
    at: datetime = Field(default_factory=utcnow)


class ChangeFollower(SQLModel, table=True):
    """A durable follower of the change log (one search index folder on one server) and how
    far it has applied it, so that pruning keeps what it still needs (kb/changelog.py)."""

    name: str = Field(primary_key=True, max_length=500)  # search:<host>:<index folder>
    applied: int = 0  # every change id up to this one is applied (or given up)
    seen_at: datetime = Field(default_factory=utcnow)


class ChangePrune(SQLModel, table=True):
    """One pruning of the change log: every change id up to `upto` may be gone."""

    id: int | None = Field(default=None, primary_key=True)
    upto: int
    deleted: int = 0
    at: datetime = Field(default_factory=utcnow)


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True, index=True)
    name: str = Field(default="", max_length=200)
    role: str = Field(default="reader", max_length=16)
    password_hash: str | None = Field(default=None, max_length=300)
    active: bool = True
    digest_opt_out: bool = False
    review_mail_opt_out: bool = False  # no e-mail about review requests and decisions
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None
    # Every session cookie names the generation it was issued in; signing out, being
    # disabled and a new password move it on, which ends every session issued before.
    session_generation: int = Field(default=0, sa_column_kwargs={"server_default": "0"})

    memberships: list["Membership"] = Relationship(
        back_populates="user",
        sa_relationship_kwargs={"cascade": "all, delete-orphan", "order_by": "Membership.team"},
    )

    @property
    def teams(self):
        """The names of the teams this user belongs to."""
        return [m.team for m in self.memberships]

    # Flask-Login's user interface
    @property
    def is_active(self):
        return self.active

    @property
    def is_authenticated(self):
        return True

    @property
    def is_anonymous(self):
        return False

    def get_id(self):
        return f"{self.id}:{self.session_generation}"


class Membership(SQLModel, table=True):
    """A user's membership of a team."""

    __table_args__ = (UniqueConstraint("user_id", "team"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", ondelete="CASCADE", index=True)
    team: str = Field(max_length=60, index=True)

    user: User = Relationship(back_populates="memberships")


class ApiToken(SQLModel, table=True):
    """An API token; only its SHA-256 digest is kept."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", ondelete="CASCADE", index=True)
    name: str = Field(max_length=100)
    digest: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class AuditEvent(SQLModel, table=True):
    """Who did what to which postmortem, and who read a restricted one."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    actor_email: str = Field(default="", max_length=254)
    action: str = Field(max_length=32, index=True)
    ref: str = Field(default="", max_length=64, index=True)
    detail: str = Field(default="", max_length=1000)


class LoginAttempt(SQLModel, table=True):
    """A failed sign-in, kept for the rate limit (shared by every worker through the database)."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    email: str = Field(max_length=254, index=True)
    address: str = Field(max_length=64, index=True)


# --- themes, similar incidents (kb/insights): derived from the tables above, rebuilt by
# `kb themes rebuild`; stored as plain rows so pages read them without fitting anything.


# The figures dashboard reads these columns of every postmortem in a range: an index that
# covers them spares reading the wide rows (tens of thousands of them at a time).
Index(
    "ix_postmortem_figures",
    Postmortem.status,
    Postmortem.started_at,
    Postmortem.kind,
    Postmortem.severity,
    Postmortem.trigger,
    Postmortem.visibility,
    Postmortem.detected_at,
    Postmortem.resolved_at,
    Postmortem.published_at,
)


class ThemeRun(SQLModel, table=True):
    """One rebuild of the themes: a fingerprint of the published factors it saw, and counts."""

    id: int | None = Field(default=None, primary_key=True)
    fingerprint: str = Field(max_length=64, index=True)
    built_at: datetime = Field(default_factory=utcnow)
    postmortems: int = 0
    factors: int = 0
    themes: int = 0
    seconds: float = 0.0
    method: str = Field(default="", max_length=300)
    # Bumped when themes change between rebuilds (a postmortem published or unpublished, an
    # admin's edit): the in-memory caches of themes and similar incidents key on it.
    revision: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # Terms the rebuild found spread across every kind of theme (what every write-up says,
    # the organisation's own names): discounted when labelling from what a reader may see.
    generic: list = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )


class Theme(SQLModel, table=True):
    """A recurring theme: a cluster of contributing factors with a label and its key terms."""

    id: int | None = Field(default=None, primary_key=True)
    label: str = Field(max_length=200)
    terms: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    size: int = 0
    rank: int = Field(default=0, index=True)
    # True when every member is restricted: the stored label then quotes restricted words,
    # so pages label the theme from the factors the reader may see instead.
    private_label: bool = False
    pinned: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # The theme's centre as {term: weight} (unit length), for placing the factors of a
    # postmortem published after the rebuild in the nearest theme.
    centroid: dict = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}")
    )


class ThemeCuration(SQLModel, table=True):
    """An admin's edit of the themes (rename, merge, split), kept by the factors it concerned.

    Factors are named "postmortem id:position" (a factor's row id changes whenever its
    postmortem is saved), so a rebuild carries the edit to the new theme that holds most of
    them: `factors` are the theme's (for a merge, the theme merged away; for a split, those
    that stay) and `other` the merge's target or the factors split off.
    """

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    actor_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    actor_email: str = Field(default="", max_length=254)
    kind: str = Field(max_length=16)  # rename, merge or split
    label: str = Field(default="", max_length=200)
    factors: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    other: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    active: bool = True


class ThemeFactor(SQLModel, table=True):
    """One factor's membership of a theme; `score` is its closeness to the theme's centre."""

    __table_args__ = (Index("ix_themefactor_theme_score", "theme_id", "score"),)

    id: int | None = Field(default=None, primary_key=True)
    theme_id: int = Field(foreign_key="theme.id", ondelete="CASCADE")
    factor_id: int = Field(foreign_key="factor.id", ondelete="CASCADE", unique=True)
    postmortem_id: int = Field(foreign_key="postmortem.id", ondelete="CASCADE", index=True)
    score: float = 0.0


class PostmortemTerm(SQLModel, table=True):
    """A weighted key term of a published postmortem, for similar incidents (an inverted index).

    Terms include `service:<name>` and `theme:<id>` entries so that sharing a service or a
    theme counts towards similarity. Read whole into memory (kb/insights/postings.py), never
    looked up by term, so there is no index on it.
    """

    id: int | None = Field(default=None, primary_key=True)
    postmortem_id: int = Field(foreign_key="postmortem.id", ondelete="CASCADE", index=True)
    term: str = Field(max_length=80)
    weight: float = 0.0


class TermWeight(SQLModel, table=True):
    """The inverse document frequency of a term at the last rebuild (to weigh typed text)."""

    term: str = Field(max_length=80, primary_key=True)
    idf: float = 0.0
    label: str = Field(default="", max_length=120)  # the form people wrote most often


# --- the monthly digest (kb/digest): the send log that makes sending idempotent -----------


class DigestSend(SQLModel, table=True):
    """One digest message for one month to one address: the send log.

    `sending` is written and committed before the message goes to the mail server and `sent`
    after it was accepted, so a rerun never sends a second copy; a row left at `sending` by
    a process that died in between is reported as uncertain, never resent on its own.
    """

    __table_args__ = (UniqueConstraint("month", "address"),)

    id: int | None = Field(default=None, primary_key=True)
    month: str = Field(max_length=7, index=True)  # YYYY-MM
    address: str = Field(max_length=254)
    variant: str = Field(max_length=16)  # personal | list
    user_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    status: str = Field(default="sending", max_length=16, index=True)  # sending | sent | failed
    message_id: str = Field(default="", max_length=300)
    error: str = Field(default="", max_length=1000)
    attempts: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None


# --- review notifications (kb/reviews.py): the outbox of review e-mail --------------------


class ReviewMail(SQLModel, table=True):
    """One review e-mail to one person: written with the transition, sent after the commit.

    `kind` is requested (to a named reviewer) or approved / changes-requested (to the
    authors). A send that fails stays `failed` and is tried again later (up to a limit); a row
    at `sending` is being sent, or its process died meanwhile (retried after a while).
    """

    id: int | None = Field(default=None, primary_key=True)
    postmortem_id: int = Field(foreign_key="postmortem.id", ondelete="CASCADE", index=True)
    user_id: int = Field(foreign_key="user.id", ondelete="CASCADE", index=True)
    actor_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    kind: str = Field(max_length=24)  # requested | approved | changes-requested
    comment: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    status: str = Field(default="pending", max_length=16, index=True)
    attempts: int = 0
    error: str = Field(default="", max_length=1000)
    message_id: str = Field(default="", max_length=300)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
