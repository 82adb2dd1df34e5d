"""The change log and the followers that apply it."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from kb.models.vocabulary import utcnow


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
