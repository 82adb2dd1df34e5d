"""The demo organisation in seed_data/: its users and its postmortems."""

import json
from pathlib import Path

from sqlmodel import func, select

from kb import accounts, transfer
from kb.models import Postmortem

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
    return transfer.import_records(
        session, transfer.read_records(seed_dir / "postmortems"), progress=progress
    )
