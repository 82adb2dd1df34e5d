"""What several benches set up the same way: a scratch database holding given documents, and
an app over an existing database with the benches' reader and admin."""

import tempfile
from contextlib import contextmanager

READER = "reader@bench.example"
ADMIN = "admin@bench.example"
PASSWORD = "bench-password"


@contextmanager
def database(documents, name="scratch"):
    """(folder, url, engine) of a migrated SQLite database in a temporary folder, holding
    `documents` (document-format dicts) saved as the app saves them; removed afterwards."""
    from sqlmodel import Session

    from kb import migrations
    from kb.db import make_engine
    from kb.document import validate
    from kb.postmortems import save_document

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/{name}.db"
        migrations.upgrade("head", url=url)
        engine = make_engine(url)
        try:
            with Session(engine) as session:
                for doc in documents:
                    save_document(session, validate(doc))
                session.commit()
            yield folder, url, engine
        finally:
            engine.dispose()


def app_for(url, instance):
    """The app over `url`, without a search index (SEARCH_SYNC off: these benches measure
    other pages)."""
    from kb import create_app

    return create_app(
        {
            "DATABASE_URL": url,
            "INSTANCE_PATH": instance,
            "SECRET_KEY": "bench",
            "TESTING": True,
            "SEARCH_SYNC": "off",
        }
    )


def users(session):
    """(reader of team "data", admin): the benches' two accounts, made if missing."""
    from kb import accounts

    def user(email, role, **kwargs):
        return accounts.get_user(session, email) or accounts.create_user(
            session, email, role, password=PASSWORD, **kwargs
        )

    found = user(READER, "reader", teams=["data"]), user(ADMIN, "admin")
    session.commit()
    return found
