"""How long a failed sign-in takes for an existing account and for an unknown one.

Run: .venv/bin/python bench/sign_in_timing.py [--rounds 40]
A wrong password should cost the same whether or not the address has an account, or the
time tells which addresses exist. Each round posts the sign-in form (through the whole app,
on a fresh SQLite database in a temporary folder) once for each case, alternating; the rate
limits are raised out of the way. Prints a Markdown row for docs/security.md.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _csrf(client):
    body = client.get("/sign-in").get_data(as_text=True)
    marker = 'name="csrf_token" value="'
    start = body.index(marker) + len(marker)
    return body[start : body.index('"', start)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()

    from kb import accounts, create_app, migrations
    from kb.db import get_session

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        migrations.upgrade("head", url=url)
        app = create_app(
            {
                "DATABASE_URL": url,
                "INSTANCE_PATH": folder,
                "SECRET_KEY": "bench",
                "LOG_LEVEL": "WARNING",
                "LOGIN_RATE_LIMIT": 10**6,
                "LOGIN_ACCOUNT_LIMIT": 10**6,
            }
        )
        with app.app_context():
            accounts.create_user(get_session(), "known@x.example", "reader", password="x" * 12)
            get_session().commit()
        client = app.test_client()
        token = _csrf(client)
        times = {"known@x.example": [], "unknown@x.example": []}
        for _ in range(args.rounds + 2):  # the first two rounds warm up (and make the dummy hash)
            for email, seen in times.items():
                started = time.perf_counter()
                response = client.post(
                    "/sign-in", data={"email": email, "password": "wrong!" * 3, "csrf_token": token}
                )
                seen.append(time.perf_counter() - started)
                assert response.status_code == 401, response.status_code
        app.extensions["kb_engine"].dispose()
    known, unknown = (statistics.median(t[2:]) * 1000 for t in times.values())
    print("| existing account, wrong password | unknown account | rounds |")
    print("|---|---|---|")
    print(f"| {known:.0f} ms | {unknown:.0f} ms | {args.rounds} |")


if __name__ == "__main__":
    main()
