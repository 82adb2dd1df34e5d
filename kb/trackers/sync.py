"""`kb actions sync`: read the issues action items link to, keep each reading, and give the
items the status their tracker says, through the postmortem's write path (a revision whose
note names the tracker, the version claimed by a conditional UPDATE).

Requests are made outside any transaction; each postmortem's change is committed on its own,
so one conflict or one failing tracker leaves the rest of the run's work standing.
"""

import logging
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError
from sqlmodel import delete, select

from kb.db import begin_write
from kb.document import DocumentError, to_document, validate
from kb.models import ActionItem, Postmortem, TrackerIssue, utcnow
from kb.postmortems import Conflict, save_document
from kb.trackers import kinds, setup
from kb.trackers.http import DEFAULT_TIMEOUT, TrackerError, request_json, token

log = logging.getLogger(__name__)

# Per tracker and run: a tracker that is down (unreachable, slow, refusing the token) costs
# three timeouts, not one per issue; an issue that does not exist does not count.
FAILURES_BEFORE_GIVING_UP = 3
SAVE_ATTEMPTS = 3  # a postmortem saved by someone else meanwhile is read again and retried


@dataclass
class Failure:
    tracker: setup.Settings
    message: str
    urls: list = field(default_factory=list)


@dataclass
class StatusChange:
    ref: str
    position: int
    title: str
    before: str
    after: str
    tracker: str
    said: str


@dataclass
class SyncReport:
    read: int = 0
    changes: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    unsaved: list = field(default_factory=list)  # (ref, why) of postmortems left unchanged

    @property
    def ok(self):
        return not self.failures and not self.unsaved


def sync(session, *, commit, timeout=DEFAULT_TIMEOUT):
    """Read every linked issue and bring its action items' status in line; a SyncReport.

    `commit` is called after the readings are stored and after each postmortem's save.
    """
    report = SyncReport()
    trackers = setup.settings(session)
    links = _linked_issues(session, trackers)
    session.rollback()  # no transaction stays open while trackers are asked
    readings = {}
    for tracker, issues in links.items():
        readings.update(_read_tracker(tracker, issues, timeout, report))
    _store_readings(session, links, readings)
    commit()
    linked = {pm_id for issues in links.values() for _, ids in issues.values() for pm_id in ids}
    for pm_id in sorted(linked):
        _follow(session, pm_id, readings, report, commit)
    return report


def _linked_issues(session, trackers):
    """{tracker: {url: (issue key, {postmortem ids})}} of every action item with a link."""
    rows = session.exec(
        select(ActionItem.url, ActionItem.postmortem_id).where(ActionItem.url.is_not(None))
    ).all()
    found = {}
    for url, pm_id in rows:
        tracker, key = setup.tracker_for(trackers, url)
        if tracker is not None and len(url) <= 500:
            issue = found.setdefault(tracker, {}).setdefault(url, (key, set()))
            issue[1].add(pm_id)
    return found


def _read_tracker(tracker, issues, timeout, report):
    """{url: (tracker, Reading or TrackerError)} for one tracker's issues."""
    name = kinds.label(tracker)
    out = {}
    try:
        secret = token(tracker)
        headers = kinds.headers(tracker, secret)
    except TrackerError as exc:
        _fail(report, tracker, str(exc), list(issues))
        return {url: (tracker, exc) for url in issues}
    failures = 0
    for url, (key, _) in sorted(issues.items()):
        if failures >= FAILURES_BEFORE_GIVING_UP:
            exc = TrackerError(f"not asked: {name} failed {failures} times in this run")
            out[url] = (tracker, exc)
            _fail(report, tracker, str(exc), [url])
            continue
        try:
            answer = request_json(
                kinds.issue_api_url(tracker, key),
                headers=headers,
                label=name,
                timeout=timeout,
                secret=secret,
            )
            out[url] = (tracker, kinds.reading(tracker, answer))
            report.read += 1
        except TrackerError as exc:
            failures += 0 if exc.issue_only else 1
            out[url] = (tracker, exc)
            _fail(report, tracker, str(exc), [url])
    return out


def _fail(report, tracker, message, urls):
    log.warning(
        "tracker %s (%s) failed: %s: %s", tracker.id, tracker.web_url, message, " ".join(urls)
    )
    for failure in report.failures:
        if failure.tracker == tracker and failure.message == message:
            failure.urls.extend(urls)
            return
    report.failures.append(Failure(tracker, message, list(urls)))


def _store_readings(session, links, readings):
    """Keep each issue's reading (or failure) for the pages: one row per URL; forget the
    issues no action item links to any more."""
    begin_write(session)  # on SQLite, before the first savepoint (kb.db.begin_write)
    now = utcnow()
    linked = {url for issues in links.values() for url in issues}
    stored = session.exec(select(TrackerIssue.id, TrackerIssue.url)).all()
    gone = [row_id for row_id, url in stored if url not in linked]
    for start in range(0, len(gone), 500):
        chunk = gone[start : start + 500]
        session.exec(delete(TrackerIssue).where(TrackerIssue.id.in_(chunk)))
    for tracker, issues in links.items():
        for url in issues:
            _, result = readings[url]
            for _attempt in range(2):  # another run may insert the same URL meanwhile
                row = session.exec(select(TrackerIssue).where(TrackerIssue.url == url)).first()
                try:
                    with session.begin_nested():
                        row = row or TrackerIssue(url=url, tracker_id=tracker.id)
                        row.tracker_id = tracker.id
                        if isinstance(result, TrackerError):
                            row.error, row.failed_at = str(result)[:300], now
                        else:
                            row.said, row.status, row.read_at = result.said, result.status, now
                            row.error = row.failed_at = None
                        session.add(row)
                        session.flush()
                    break
                except IntegrityError:
                    continue


def _follow(session, pm_id, readings, report, commit):
    """Give one postmortem's linked items their trackers' status (a revision, if any moved)."""
    why = ""
    for _attempt in range(SAVE_ATTEMPTS):
        pm = session.get(Postmortem, pm_id)
        if pm is None:
            return  # deleted meanwhile
        doc = to_document(pm)
        changes = []
        for position, item in enumerate(doc["action_items"]):
            tracker, reading = readings.get(item["url"], (None, None))
            if isinstance(reading, kinds.Reading) and not reading.agrees(item["status"]):
                changes.append(
                    StatusChange(
                        ref=pm.ref,
                        position=position,
                        title=item["title"],
                        before=item["status"],
                        after=reading.status,
                        tracker=kinds.label(tracker),
                        said=reading.said,
                    )
                )
                item["status"] = reading.status
        if not changes:
            return
        note = "; ".join(
            f"action '{c.title[:60]}' -> {c.after} (status from {c.tracker}: {c.said})"
            for c in changes
        )
        try:
            save_document(session, validate(doc), None, note=note[:500])
            commit()
        except Conflict as exc:
            session.rollback()
            why = str(exc)
            continue
        except DocumentError as exc:
            session.rollback()
            report.unsaved.append((pm.ref, f"its document does not validate: {exc}"))
            return
        report.changes.extend(changes)
        return
    report.unsaved.append((pm.ref, why))
