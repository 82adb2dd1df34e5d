"""How long sending the digest to 1,000 recipients takes over loopback SMTP (target: <= 60 s).

Run: .venv/bin/python bench/digest_send.py [--recipients 1000] [--month 2026-10]
A fresh SQLite database with the demo organisation's postmortems (kb seed) and N readers,
an aiosmtpd server on a free loopback port, one `send_month` run, then a second run that
must send nothing. A quarter of the readers belong to the security team, so several distinct
versions are composed. Prints a Markdown row for docs/performance.md.
"""

import argparse
import socket
import sys
import tempfile
import time
from pathlib import Path

from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


class Counter:
    def __init__(self):
        self.count = 0
        self.bytes = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        self.bytes += len(envelope.original_content)
        return "250 OK"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--month", default="2026-10")
    args = parser.parse_args()

    from kb import create_app, migrations, seed
    from kb.db import get_session
    from kb.digest import mail, send
    from kb.models import Membership, User
    from kb.months import parse_month

    handler = Counter()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        migrations.upgrade("head", url=url)
        app = create_app(
            {
                "DATABASE_URL": url,
                "INSTANCE_PATH": tmp,
                "SECRET_KEY": "bench",
                "BASE_URL": "https://hindsight.bench.example",
                "MAIL_BACKEND": "smtp",
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": port,
                "MAIL_FROM": "Hindsight <hindsight@bench.example>",
            }
        )
        with app.app_context():
            session = get_session()
            seed.load_postmortems(session)
            for n in range(args.recipients):
                user = User(email=f"reader{n:05d}@bench.example", name=f"Reader {n}")
                if n % 4 == 0:
                    user.memberships = [Membership(team="security")]
                session.add(user)
            session.commit()
            backend = mail.backend_from_config(app.config)
            common = {
                "backend": backend,
                "commit": session.commit,
                "mail_from": app.config["MAIL_FROM"],
                "secret_key": "bench",
                "base_url": app.config["BASE_URL"],
            }
            month = parse_month(args.month)
            started = time.perf_counter()
            report = send.send_month(session, month, **common)
            first = time.perf_counter() - started
            started = time.perf_counter()
            again = send.send_month(session, month, **common)
            second = time.perf_counter() - started
        app.extensions["kb_engine"].dispose()
    controller.stop()
    assert report.ok and len(report.sent) == args.recipients, report.missing[:3]
    assert not again.sent and len(again.already) == args.recipients
    print(
        "| recipients | versions composed | send (s) | messages/s | received | "
        "average message (KiB) | second run (s), sent |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(
        f"| {args.recipients:,} | {report.versions} | {first:.1f} | {args.recipients / first:.0f} "
        f"| {handler.count:,} | {handler.bytes / max(handler.count, 1) / 1024:.0f} "
        f"| {second:.2f}, {len(again.sent)} |"
    )


if __name__ == "__main__":
    main()
