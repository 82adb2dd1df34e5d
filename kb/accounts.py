"""Users, roles, API tokens, and the one visibility filter every read path uses."""

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, bindparam, exists, false, or_, true, union
from sqlalchemy.orm import object_session
from sqlmodel import delete, func, select
from werkzeug.security import check_password_hash, generate_password_hash

from kb import audit
from kb.models import (
    ROLES,
    STATUSES,
    ApiToken,
    Label,
    LoginAttempt,
    Membership,
    Postmortem,
    ReviewRequest,
    Revision,
    User,
    utcnow,
)

MIN_PASSWORD = 10
TOKEN_USE_RESOLUTION = timedelta(minutes=1)  # how exactly `last_used_at` is kept


class AccountError(ValueError):
    """A request about accounts that cannot be carried out; the message says why."""


class WrongPassword(AccountError):
    """The password given to prove who one is does not match (counted like a failed sign-in)."""


# --- visibility ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What one user may see, as plain data: the single definition of the visibility rule.

    `everything` for admins; `nothing` for a missing or disabled user; otherwise internal
    postmortems plus restricted ones whose teams include one of `teams` or whose authors or
    readers include `email`. Of those, an unpublished one (a draft, or in review) only when
    `unpublished` (KB_UNPUBLISHED_READERS=everyone), or when the user is involved in it: one
    of its teams is theirs, or its id is in `involved` (the unpublished postmortems they
    author or created, or were asked to review). Every store (SQL, the search index, stored themes)
    builds its own filter from a Scope, so the rule is written once.
    """

    everything: bool = False
    nothing: bool = False
    email: str = ""
    teams: tuple[str, ...] = ()
    unpublished: bool = False
    involved: tuple[int, ...] = ()

    def allows(self, visibility, teams=(), people=(), *, status="published", pid=None):
        """Whether a postmortem with these teams, authors/readers, status and id may be seen."""
        if self.nothing:
            return False
        if self.everything:
            return True
        if visibility != "internal" and not (
            self.email in {p.lower() for p in people} or set(self.teams) & set(teams)
        ):
            return False
        if status == "published" or self.unpublished:
            return True
        return pid in self.involved or bool(set(self.teams) & set(teams))


def unpublished_readers():
    """The KB_UNPUBLISHED_READERS setting of the running application (`involved` outside
    one: without a setting, drafts stay with those involved)."""
    from flask import current_app, has_app_context  # the setting lives in the app's config

    if has_app_context():
        return current_app.config.get("UNPUBLISHED_READERS", "involved")
    return "involved"


def scope_of(user, unpublished=None):
    """The Scope of a user (None is the system, which sees everything).

    `unpublished`: whether every reader may read unpublished postmortems; None takes the
    application's KB_UNPUBLISHED_READERS.
    """
    if user is None:
        return Scope(everything=True)
    if not getattr(user, "active", False):
        return Scope(nothing=True)
    if user.role == "admin":
        return Scope(everything=True)
    if unpublished is None:
        unpublished = unpublished_readers() == "everyone"
    email = user.email.lower()
    return Scope(
        email=email,
        teams=tuple(user.teams),
        unpublished=unpublished,
        involved=() if unpublished else _involved_in(user, email),
    )


def _involved_in(user, email):
    """Ids of the unpublished postmortems `user` authors (or created), or was asked to
    review (found by the indexes on authors, revision authors and reviewers)."""
    session = object_session(user)
    if session is None or user.id is None:
        return ()  # a user outside any session: involved in nothing that can be looked up
    with session.no_autoflush:  # a question about stored rows: nothing half-made is flushed
        ids = session.execute(_involvement(), {"email": email, "user_id": user.id}).scalars().all()
    return tuple(sorted(set(ids)))


@functools.cache
def _involvement():
    """The question of _involved_in, made once (it is asked on every search and list)."""
    unpublished = Postmortem.status.in_([s for s in STATUSES if s != "published"])
    email, user_id = bindparam("email"), bindparam("user_id")
    authored = (
        select(Label.postmortem_id)
        .join(Postmortem, Postmortem.id == Label.postmortem_id)
        .where(unpublished, Label.field == "authors", func.lower(Label.value) == email)
    )
    created = (
        select(Revision.postmortem_id)
        .join(Postmortem, Postmortem.id == Revision.postmortem_id)
        .where(unpublished, Revision.number == 1, Revision.author_id == user_id)
    )
    reviewing = (
        select(ReviewRequest.postmortem_id)
        .join(Postmortem, Postmortem.id == ReviewRequest.postmortem_id)
        .where(unpublished, ReviewRequest.reviewer_id == user_id)
    )
    return union(authored, created, reviewing)


def visibility_filter(user):
    """The SQL condition on Postmortem for what `user` may see (see Scope)."""
    scope = scope_of(user) if not isinstance(user, Scope) else user
    if scope.nothing:
        return false()
    if scope.everything:
        return true()
    named = exists().where(
        and_(
            Label.postmortem_id == Postmortem.id,
            Label.field.in_(("authors", "readers")),
            func.lower(Label.value) == scope.email,
        )
    )
    in_team = exists().where(
        and_(
            Label.postmortem_id == Postmortem.id,
            Label.field == "teams",
            Label.value.in_(scope.teams),
        )
    )
    conditions = [Postmortem.visibility == "internal", named]
    if scope.teams:
        conditions.append(in_team)
    condition = or_(*conditions)
    if scope.unpublished:
        return condition
    involved = [Postmortem.status == "published"]
    if scope.involved:
        involved.append(Postmortem.id.in_(scope.involved))
    if scope.teams:
        involved.append(in_team)
    return and_(condition, or_(*involved))


def may_see(user, pm, *, asked_to_review=False):
    """The same rule as visibility_filter, for one postmortem already in memory.

    `asked_to_review`: whether `user` could see `pm` once asked to review it (a reviewer is
    involved in an unpublished postmortem).
    """
    authors = pm.label_values("authors")
    email = (getattr(user, "email", None) or "").lower()
    # Published, or one the user is involved in: its status decides nothing (and the ids of
    # the user's unpublished postmortems need not be looked up).
    settled = (
        pm.status == "published"
        or asked_to_review
        or (bool(email) and email in {a.lower() for a in authors})
    )
    scope = scope_of(user, unpublished=True if settled else None)
    people = authors + pm.label_values("readers")
    return scope.allows(
        pm.visibility, pm.label_values("teams"), people, status=pm.status, pid=pm.id
    )


# --- users --------------------------------------------------------------------------------


def normalise_email(email):
    """E-mail addresses are compared in lower case."""
    return (email or "").strip().lower()


def get_user(session, email):
    """The user with this address, or None."""
    return session.exec(select(User).where(User.email == normalise_email(email))).first()


def create_user(session, email, role, *, password=None, name="", teams=(), actor=None):
    """Create a user; refuses a taken address, an unknown role or a short password."""
    email = normalise_email(email)
    if "@" not in email or len(email) > 254:
        raise AccountError(f"{email!r} is not an e-mail address")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)} (got {role!r})")
    if get_user(session, email):
        raise AccountError(f"a user {email} already exists")
    user = User(email=email, role=role, name=name or email.split("@")[0])
    if password is not None:
        set_password(user, password)
    user.memberships = [Membership(team=t) for t in sorted(set(teams))]
    session.add(user)
    session.flush()
    audit.record(session, actor, "user-create", detail=f"{email} as {role}")
    return user


def set_password(user, password):
    """Hash and set a password (scrypt, through Werkzeug); the user's sessions end."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")
    user.password_hash = generate_password_hash(password)
    end_sessions(user)


def change_password(session, user, current, new):
    """A user's own change of password: the current one must match; every session ends."""
    if authenticate(session, user.email, current) is None:
        raise WrongPassword("the current password is not right")
    if new == current:
        raise AccountError("the new password must differ from the current one")
    set_password(user, new)
    audit.record(session, user, "password-change", detail=user.email)
    session.flush()
    return user


def end_sessions(user):
    """End every session of `user`: their cookies name a generation that is now past."""
    if user.id is not None:  # a user not yet stored has no sessions
        # Incremented in SQL, so two at once cannot both write the same number (and the
        # attribute is read back from the row when next used).
        user.session_generation = User.session_generation + 1


def set_role(session, email, role, actor=None):
    """Change a user's role."""
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)} (got {role!r})")
    user = _existing(session, email)
    user.role = role
    audit.record(session, actor, "user-role", detail=f"{user.email} -> {role}")
    session.flush()
    return user


def set_teams(session, email, teams, actor=None):
    """Replace a user's team memberships."""
    user = _existing(session, email)
    user.memberships = [Membership(team=t) for t in sorted(set(teams))]
    audit.record(session, actor, "user-teams", detail=f"{user.email}: {', '.join(sorted(teams))}")
    session.flush()
    return user


def set_active(session, email, active, actor=None):
    """Disable or re-enable a user; a disabled user can neither sign in nor use tokens."""
    user = _existing(session, email)
    user.active = active
    if not active:
        end_sessions(user)  # so that enabling the user again brings none of them back
    audit.record(session, actor, "user-enable" if active else "user-disable", detail=user.email)
    session.flush()
    return user


def _existing(session, email):
    user = get_user(session, email)
    if user is None:
        raise AccountError(f"no user {normalise_email(email)}")
    return user


def active_names(session):
    """The names of the active users (people the blameless check knows by name)."""
    return [n for n in session.exec(select(User.name).where(User.active)).all() if n]


def list_users(session):
    """Every user, by address."""
    return session.exec(select(User).order_by(User.email)).all()


# --- sign-in ------------------------------------------------------------------------------


@functools.cache  # made once, on first use: nothing is computed at import time
def dummy_password_hash():
    """A hash of a random password, made like real ones, to check against for no account."""
    return generate_password_hash(secrets.token_urlsafe(16))


def authenticate(session, email, password):
    """The active user with this address and password, or None.

    A password is checked against a hash every time, a made-up one when there is no
    account (or no password): otherwise a wrong password would take the time of one scrypt
    for a real account and almost none for an unknown one, telling which addresses exist.
    """
    user = get_user(session, email)
    stored = user.password_hash if user is not None and user.password_hash else None
    matches = check_password_hash(stored or dummy_password_hash(), password)
    if stored is None or not matches or not user.active:
        return None
    return user


def too_many_attempts(session, email, address, *, address_limit, account_limit, window_seconds):
    """True when this address, or this account, has failed its limit within the window.

    The two are counted apart: an address that floods is stopped at `address_limit` without
    touching other addresses, and an account is locked only by failures against it. Keep
    `account_limit` above `address_limit`, so that no single address can lock an account.
    """
    since = utcnow() - timedelta(seconds=window_seconds)
    recent = select(func.count()).select_from(LoginAttempt).where(LoginAttempt.at >= since)
    by_address = session.exec(recent.where(LoginAttempt.address == address)).one()
    if by_address >= address_limit:
        return True
    by_email = session.exec(recent.where(LoginAttempt.email == normalise_email(email))).one()
    return by_email >= account_limit


def record_failed_login(session, email, address):
    """Remember a failed sign-in for the rate limit (and forget those older than a day)."""
    session.exec(delete(LoginAttempt).where(LoginAttempt.at < utcnow() - timedelta(days=1)))
    session.add(LoginAttempt(email=normalise_email(email)[:254], address=address[:64]))
    session.flush()


# --- API tokens ---------------------------------------------------------------------------


def _digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session, email, name, actor=None):
    """Create an API token for a user; returns (row, token). The token is shown only once."""
    user = _existing(session, email)
    token = "kb_" + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name, digest=_digest(token))
    session.add(row)
    session.flush()
    audit.record(session, actor, "token-create", detail=f"{user.email}: {name} (#{row.id})")
    return row, token


def revoke_token(session, token_id, actor=None):
    """Revoke a token by its number."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise AccountError(f"no token #{token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(session, actor, "token-revoke", detail=f"#{row.id} {row.name}")
    session.flush()
    return row


def list_tokens(session, email=None):
    """Tokens with their owners, newest first."""
    query = select(ApiToken, User).join(User).order_by(ApiToken.id.desc())
    if email:
        query = query.where(User.email == normalise_email(email))
    return session.exec(query).all()


def user_for_token(session, token):
    """The active user a live token belongs to, or None."""
    if not token:
        return None
    row = session.exec(select(ApiToken).where(ApiToken.digest == _digest(token))).first()
    if row is None or row.revoked_at is not None:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > TOKEN_USE_RESOLUTION:
        row.last_used_at = now  # not on every call: an API client must not cost a write each
    return user
