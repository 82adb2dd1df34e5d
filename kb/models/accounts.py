"""People: users, their teams, API tokens, the audit log and sign-in attempts."""

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, Relationship, SQLModel

from kb.models.vocabulary import utcnow


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
