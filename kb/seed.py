"""The demo organisation in seed_data/: its users and its postmortems."""

import json
from pathlib import Path

from sqlmodel import func, select

from kb import accounts, transfer
from kb.models import Postmortem, ReviewRequest

SEED_DIR = Path(__file__).resolve().parent.parent / "seed_data"
DEMO_PASSWORD = "hindsight-demo"  # noqa: S105 (demo accounts only; printed by `kb seed`)


def is_empty(session):
    """True when the database holds no postmortem yet."""
    return session.exec(select(func.count()).select_from(Postmortem)).one() == 0


def load_organisation(session, seed_dir=SEED_DIR, password=DEMO_PASSWORD):
    """Create the demo users that do not exist yet; return the organisation description."""
    organisation = json.loads((seed_dir / "organisation.json").read_text(encoding="utf-8"))
    for person in organisation["users"]:
        if accounts.get_user(session, person["email"]) is None:
            accounts.create_user(
                session,
                person["email"],
                person["role"],
                password=password,
                name=person.get("name", ""),
                teams=person.get("teams", ()),
            )
    return organisation


def load_postmortems(session, seed_dir=SEED_DIR, progress=None):
    """Import the demo postmortems (idempotent: a second run changes nothing)."""
    report = transfer.import_records(
        session, transfer.read_records(seed_dir / "postmortems"), progress=progress
    )
    _ask_for_reviews(session)
    return report


DEMO_REVIEWERS = ("reviewer@brightcart.example", "admin@brightcart.example")


def _ask_for_reviews(session):
    """Give each demo postmortem in review a pending reviewer, so the demo can be approved."""
    candidates = [accounts.get_user(session, email) for email in DEMO_REVIEWERS]
    candidates = [user for user in candidates if user is not None]
    in_review = session.exec(select(Postmortem).where(Postmortem.status == "in-review")).all()
    for pm in in_review:
        if session.exec(select(ReviewRequest).where(ReviewRequest.postmortem_id == pm.id)).first():
            continue
        authors = {a.lower() for a in pm.label_values("authors")}
        for user in candidates:
            if user.email not in authors and accounts.may_see(user, pm, asked_to_review=True):
                session.add(ReviewRequest(postmortem_id=pm.id, reviewer_id=user.id))
                break
    session.flush()
