"""The digest's schedules in deploy/digest/ agree: `kb digest send` on the 1st at 07:00 UTC."""

import re
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "digest"


def test_the_systemd_timer_starts_the_service_on_the_first_of_the_month():
    timer = (DEPLOY / "hindsight-digest.timer").read_text()
    service = (DEPLOY / "hindsight-digest.service").read_text()
    assert "OnCalendar=*-*-01 07:00:00 UTC" in timer and "Persistent=true" in timer
    assert "Unit=hindsight-digest.service" in timer
    assert re.search(r"^ExecStart=\S+/kb digest send$", service, re.M)
    assert "Type=oneshot" in service and "Restart=on-failure" in service


def test_the_crontab_line_and_the_cronjob_use_the_same_schedule():
    cron = [
        line
        for line in (DEPLOY / "crontab").read_text().splitlines()
        if line and not line.startswith("#") and "=" not in line.split()[0]
    ]
    assert len(cron) == 1
    assert cron[0].split()[:6] == ["0", "7", "1", "*", "*", "hindsight"]
    assert "kb digest send" in cron[0]
    assert "CRON_TZ=UTC" in (DEPLOY / "crontab").read_text()
    job = (DEPLOY / "cronjob.yaml").read_text()
    assert 'schedule: "0 7 1 * *"' in job and 'timeZone: "Etc/UTC"' in job
    assert "concurrencyPolicy: Forbid" in job
    assert 'command: ["kb", "digest", "send"]' in job
