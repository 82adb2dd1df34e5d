"""Outgoing webhooks: the hooks an admin registered, the queue of deliveries to them and each
delivery's attempts (kb/hooks/)."""

from datetime import datetime

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from kb.models.vocabulary import utcnow


class Hook(SQLModel, table=True):
    """A URL that is told of the events it asked for, in JSON or as a chat message.

    `secret` signs each request (HMAC-SHA256 of the body); it is kept because every request
    needs it, and never shown back. `receives_restricted`: restricted postmortems are sent to
    this hook too (by default they never are).
    """

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=2000)
    events: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    format: str = Field(default="json", max_length=16)  # json | slack
    secret: str = Field(default="", max_length=200)
    receives_restricted: bool = False
    active: bool = True
    description: str = Field(default="", max_length=200)
    created_by_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)


class HookDelivery(SQLModel, table=True):
    """One event to send to one hook: written in the transaction of the change it tells of.

    state: pending (due at next_attempt_at; tried `attempts` times so far), delivered (the
    receiver answered 2xx: never sent again), given-up (failing for a day), skipped (the
    postmortem became restricted before it was sent). `claimed_until` is the lease of the
    process sending it now: no other process takes it before then.
    """

    __table_args__ = (UniqueConstraint("hook_id", "dedupe_key"),)

    id: int | None = Field(default=None, primary_key=True)
    hook_id: int = Field(foreign_key="hook.id", ondelete="CASCADE", index=True)
    uuid: str = Field(max_length=36, unique=True)  # the delivery id the receiver sees
    event: str = Field(max_length=40)
    postmortem_id: int | None = Field(
        default=None, foreign_key="postmortem.id", ondelete="SET NULL", index=True
    )
    data: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # one event per hook and key (an overdue item once a day, a month's digest once)
    dedupe_key: str | None = Field(default=None, max_length=200)
    state: str = Field(default="pending", max_length=16, index=True)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, index=True)
    claimed_until: datetime | None = None
    last_status: int | None = None
    last_error: str = Field(default="", max_length=1000)
    created_at: datetime = Field(default_factory=utcnow)
    delivered_at: datetime | None = None


class HookAttempt(SQLModel, table=True):
    """One try at sending a delivery: when, what came back (status or error), how long."""

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="hookdelivery.id", ondelete="CASCADE", index=True)
    number: int
    at: datetime = Field(default_factory=utcnow)
    status: int | None = None
    error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    duration_ms: int = 0
