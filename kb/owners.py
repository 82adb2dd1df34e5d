"""Action-item owners as people and teams: one stored form per person or team.

An owner that names a user (by e-mail, by display name, or by first name when only one user
has it) is stored as that user's e-mail and shown by their name; an owner that names a team
(`payments`, `Payments team`) is stored as the team's name. Anything else is kept as written:
owners outside Hindsight are allowed. Comparisons ignore case and repeated spaces.
"""

from dataclasses import dataclass, field

from sqlalchemy.orm import aliased
from sqlmodel import select

from kb import accounts
from kb.models import ActionItem, Label, Membership, Postmortem, User


@dataclass
class Directory:
    """Who and which teams an owner may name, looked up by lower-case key."""

    people: dict[str, str] = field(default_factory=dict)  # e-mail or name -> e-mail
    names: dict[str, str] = field(default_factory=dict)  # e-mail -> display name
    teams: dict[str, str] = field(default_factory=dict)  # team -> team
    accounts: dict[str, str] = field(default_factory=dict)  # e-mail or full name -> e-mail

    def author(self, name):
        """The stored form of an author: the user's e-mail when `name` is a user's e-mail or
        display name (ignoring case and repeated spaces), else the name as written."""
        text = " ".join((name or "").split())
        return self.accounts.get(text.lower(), text)

    def normalise(self, owner):
        """The stored form of one owner (None and blanks stay None)."""
        text = " ".join((owner or "").split())
        if not text:
            return None
        key = text.lower()
        if key in self.people:
            return self.people[key]
        team = key.removesuffix(" team").strip()
        return self.teams.get(key) or self.teams.get(team) or text

    def label(self, owner):
        """How an owner is shown: a user by name, a team or free text as stored."""
        key = self.normalise(owner) or ""
        return self.names.get(key.lower(), key)


def directory(session):
    """Every user and every team (from memberships and postmortems' teams)."""
    users = session.exec(select(User)).all()
    found = Directory()
    first_names = {}
    for user in users:
        email = user.email.lower()
        found.names[email] = user.name or user.email
        found.people[email] = user.email
        found.accounts[email] = user.email
        if user.name:
            found.accounts.setdefault(" ".join(user.name.lower().split()), user.email)
            found.people.setdefault(" ".join(user.name.lower().split()), user.email)
            first = user.name.split()[0].lower()
            first_names.setdefault(first, set()).add(user.email)
    for first, emails in first_names.items():
        if len(emails) == 1:  # "Dana" names a person only while one Dana works here
            found.people.setdefault(first, next(iter(emails)))
    team_names = set(session.exec(select(Membership.team).distinct()).all())
    # Distinct in SQL: every save reads this, and a label row per postmortem and team would
    # cost a fifth of a second at 50,000 postmortems.
    team_names |= set(
        session.exec(select(Label.value).where(Label.field == "teams").distinct()).all()
    )
    for team in sorted(team_names):
        found.teams.setdefault(team.lower(), team)
    return found


def normalise_document(session, doc, found=None):
    """The validated document with its action items' owners and its authors in their stored
    form (people Hindsight knows as their e-mail)."""
    items = doc.get("action_items") or []
    named = [a for a in doc.get("authors") or [] if "@" not in a]
    if not any(item.get("owner") for item in items) and not named:
        return doc
    found = found or directory(session)
    authors = list(dict.fromkeys(found.author(a) for a in doc.get("authors") or []))
    return {
        **doc,
        "authors": authors,
        "action_items": [{**item, "owner": found.normalise(item.get("owner"))} for item in items],
    }


def suggestions(session, user):
    """(value, label) for the owner field: active users by name and e-mail, then the teams of
    the memberships and of the postmortems `user` may see."""
    people = session.exec(select(User).where(User.active).order_by(User.name, User.email)).all()
    return [(u.email, f"{u.name} ({u.email})" if u.name else u.email) for u in people] + [
        (t, f"{t} (team)") for t in teams(session, user)
    ]


def teams(session, user):
    """The teams of the memberships and of the postmortems `user` may see, by name."""
    found = set(session.exec(select(Membership.team).distinct()).all())
    label = aliased(Label)  # the visibility filter's own subqueries read Label
    found |= set(
        session.exec(
            select(label.value)
            .join(Postmortem, Postmortem.id == label.postmortem_id)
            .where(label.field == "teams", accounts.visibility_filter(user))
            .distinct()
        ).all()
    )
    return sorted(found)


def visible_owners(session, user):
    """Every owner as stored on the action items `user` may see."""
    query = (
        select(ActionItem.owner)
        .join(Postmortem, ActionItem.postmortem_id == Postmortem.id)
        .where(accounts.visibility_filter(user), ActionItem.owner.is_not(None))
        .distinct()
    )
    return session.exec(query).all()
