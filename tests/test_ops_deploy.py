"""The deployment files parse, point at endpoints that exist, and every alert has a runbook."""

import os
import re
import runpy
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


def _documents(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_kubernetes_manifests_parse_and_probe_the_health_endpoints(app):
    kinds = {}
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for doc in _documents(path):
            kinds.setdefault(doc["kind"], []).append(doc)
    for kind in ("Deployment", "Service", "CronJob", "PersistentVolumeClaim", "Job"):
        assert kind in kinds, kind
    digest = _documents(DEPLOY / "digest" / "cronjob.yaml")
    assert [d["kind"] for d in digest] == ["CronJob"]
    (deployment,) = kinds["Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    probes = {container[p]["httpGet"]["path"] for p in ("livenessProbe", "readinessProbe")}
    assert probes == {"/healthz", "/readyz"}
    rules = {r.rule for r in app.url_map.iter_rules()}
    assert probes <= rules and "/metrics" in rules
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    index = next(v for v in volumes if v["name"] == "index")
    assert index["ephemeral"]["volumeClaimTemplate"]["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_gunicorn_settings_follow_the_cpu_count(monkeypatch):
    monkeypatch.delenv("KB_WORKERS", raising=False)
    monkeypatch.delenv("KB_THREADS", raising=False)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/tmp/kb-test-metrics")
    settings = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    assert settings["workers"] == max(2, len(os.sched_getaffinity(0)))
    assert settings["threads"] == 4 and settings["worker_class"] == "gthread"
    monkeypatch.setenv("KB_WORKERS", "7")
    assert runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))["workers"] == 7


def test_every_alert_has_a_runbook():
    alerts = _documents(DEPLOY / "prometheus" / "alerts.yml")[0]["groups"][0]["rules"]
    operations = (ROOT / "docs" / "operations.md").read_text()
    headings = {h.strip().lower() for h in re.findall(r"^#### (\w+)$", operations, re.M)}
    for alert in alerts:
        name = alert["alert"]
        assert name.lower() in headings, f"no runbook for {name} in docs/operations.md"
        assert alert["annotations"]["runbook"] == f"docs/operations.md#{name.lower()}"


@pytest.mark.parametrize("unit", sorted((DEPLOY / "systemd").glob("*.service")), ids=str)
def test_systemd_units_run_commands_that_exist(app, unit):
    text = unit.read_text()
    commands = re.findall(r"/opt/hindsight/\.venv/bin/kb ([a-z]+)", text)
    assert commands or "gunicorn -c deploy/gunicorn.conf.py wsgi:app" in text
    assert set(commands) <= set(app.cli.commands), commands
