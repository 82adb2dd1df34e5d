"""Postmortems and what belongs to them: labels, factors, action items, rendered sections,
attachments, revisions and review requests."""

from datetime import date, datetime

from sqlalchemy import JSON, Column, Index, LargeBinary, Text, UniqueConstraint, func
from sqlmodel import Field, Relationship, SQLModel

from kb.models.vocabulary import utcnow


class Postmortem(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(max_length=64, unique=True, index=True)
    title: str = Field(max_length=200)
    kind: str = Field(default="incident", max_length=16, index=True)
    status: str = Field(default="draft", max_length=16, index=True)
    severity: str | None = Field(default=None, max_length=8, index=True)
    visibility: str = Field(default="internal", max_length=16, index=True)
    trigger: str = Field(default="unknown", max_length=32)
    planned_at: datetime | None = Field(default=None, index=True)  # a pre-mortem's change
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
    change: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    rollback: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    decision: str | None = Field(default=None, max_length=24)  # a pre-mortem's: go, no-go...
    # The ref of the pre-mortem that covered the change behind this incident (as written).
    premortem: str | None = Field(default=None, max_length=64, index=True)
    timeline: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    links: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    risks: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Per risk of the pre-mortem named by `premortem`: whether it materialised.
    foreseen: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
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


# People are named in labels as written and compared ignoring case: who is involved in which
# drafts (kb.accounts.Scope, on every search and list) is looked up by this index.
Index("ix_label_field_value_lower", Label.__table__.c.field, func.lower(Label.__table__.c.value))


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
    risk: int | None = None  # the pre-mortem's risk (from 1) this action mitigates

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
    # Indexed: the drafts a user created are found by it (kb.accounts, on every search).
    author_id: int | None = Field(
        default=None, foreign_key="user.id", ondelete="SET NULL", index=True
    )
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
