"""Mail sent and to send: the monthly digest's log and the review e-mail outbox."""

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from kb.models.vocabulary import utcnow


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
