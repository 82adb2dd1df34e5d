"""Slack's export format: `channels.json` (and `groups.json`, `mpims.json`, `dms.json`),
`users.json`, and a folder per conversation of per-day files, `<channel>/<YYYY-MM-DD>.json`,
each a JSON list of messages `{type, subtype, user, text, ts, thread_ts, files, ...}`.

Only the days around the window are read. People are named as `users.json` names them;
mentions (`<@U123>`, `<#C123|name>`, `<!here>`) and links (`<https://x|label>`) become text;
joins, leaves and the other housekeeping subtypes are left out; thread replies are kept.
"""

import json
import posixpath
import re
from datetime import UTC, datetime, timedelta

from kb.timeline_sources.entries import Entry, Found, SourceError, first_entries

CONVERSATION_LISTS = ("channels.json", "groups.json", "mpims.json", "dms.json")
# Messages about the channel rather than the incident.
SKIPPED = frozenset(
    {
        "channel_join",
        "channel_leave",
        "group_join",
        "group_leave",
        "channel_archive",
        "channel_unarchive",
        "group_archive",
        "group_unarchive",
        "channel_name",
        "group_name",
        "bot_add",
        "bot_remove",
        "pinned_item",
        "unpinned_item",
        "reminder_add",
        "message_deleted",
        "tombstone",
    }
)
_DAY_FILE = re.compile(r"^(?P<channel>[^/]+)/(?P<day>\d{4}-\d{2}-\d{2})\.json$")
_ANGLE = re.compile(r"<([^<>\n]{1,2000})>")
_TS = re.compile(r"^\d{1,12}(?:\.\d{1,9})?$")
SHOWN_CHANNELS = 12  # named in a message asking which channel
OUTSIDE = object()  # a message sent outside the window


class SlackExport:
    """A Slack export's conversations, people and day files (read through an archive.Export)."""

    def __init__(self, files):
        self.files = files
        lists = [
            n for n in files.names if posixpath.basename(n) in ("users.json", *CONVERSATION_LISTS)
        ]
        self.root = min((posixpath.dirname(n) for n in lists), key=len, default="")
        prefix = f"{self.root}/" if self.root else ""
        self.days = {}  # channel -> {date: path}
        for name in files.names:
            match = _DAY_FILE.match(name[len(prefix) :]) if name.startswith(prefix) else None
            if match:
                day = _date(match["day"])
                if day is not None:
                    self.days.setdefault(match["channel"], {})[day] = name
        if not self.days:
            raise SourceError(
                f"{files.label} has no <channel>/<YYYY-MM-DD>.json files: is it a Slack export?"
            )
        self.users = self._people()
        self.conversations = self._conversations()

    def _json_list(self, name):
        path = f"{self.root}/{name}" if self.root else name
        if path not in self.files.names:
            return []
        found = _json(self.files.read(path), path)
        if not isinstance(found, list):
            raise SourceError(f"{path} is not a JSON list, as Slack's export writes it")
        return [item for item in found if isinstance(item, dict)]

    def _people(self):
        people = {}
        for user in self._json_list("users.json"):
            profile = user.get("profile") if isinstance(user.get("profile"), dict) else {}
            name = _first(
                user.get("real_name"),
                profile.get("real_name"),
                profile.get("display_name"),
                user.get("name"),
            )
            if isinstance(user.get("id"), str) and name:
                people[user["id"]] = name
        return people

    def _conversations(self):
        found = {}
        for listing in CONVERSATION_LISTS:
            for conversation in self._json_list(listing):
                if isinstance(conversation.get("id"), str):
                    found[conversation["id"]] = _first(conversation.get("name"), conversation["id"])
        return found

    def day_range(self, window):
        """The first and last day whose file may hold messages of the window: a day either
        side, as the files are split by a time zone of the workspace."""
        return (window.start - timedelta(days=1)).date(), (window.end + timedelta(days=1)).date()

    def messages(self, channel, window):
        """The messages of `channel` on the days around the window (with the day file named)."""
        first, last = self.day_range(window)
        for day, path in sorted(self.days.get(channel, {}).items()):
            if first <= day <= last:
                found = _json(self.files.read(path), path)
                if not isinstance(found, list):
                    raise SourceError(f"{path} is not a JSON list of messages")
                for message in found:
                    if isinstance(message, dict):
                        yield path, message


def read(files, window, channel=None, hint=None):
    """What one conversation of a Slack export (archive.Export) holds for the window (Found).

    `channel` names it (with or without '#'); without one, the export's only channel, the one
    whose name holds `hint` (the postmortem's ref), or the only one with messages on the
    window's days.
    """
    export = SlackExport(files)
    chosen = _named(export, channel, hint)
    if chosen is None:
        chosen = _busiest(export, window)
    entries, outside, unreadable, more = _entries(export, chosen, window)
    problems = []
    if unreadable:
        problems.append(f"{unreadable} message{'s' * (unreadable != 1)} without a time left out")
    return Found(entries, problems, chosen, outside, more)


def _entries(export, channel, window):
    """(entries, outside, without a time, more) of one channel on the days around the window.

    Only the window's messages are made entries, in time order, and no more than the timeline
    can take (and one to tell there are more): the rest are counted.
    """
    candidates, outside, unreadable = [], 0, 0
    for _path, message in export.messages(channel, window):
        found = _candidate(message, window)
        if found is OUTSIDE:
            outside += 1
        elif found is False:
            unreadable += 1
        elif found is not None:
            candidates.append(found)
    entries, more = first_entries(
        candidates, lambda moment, message: _made(export, channel, moment, message)
    )
    return entries, outside, unreadable, more


def _named(export, channel, hint):
    """The channel asked for, the only one, or the only one named after the incident."""
    names = sorted(export.days)
    if channel:
        wanted = channel.strip().lstrip("#").strip().lower()
        for name in names:
            if name.lower() == wanted or export.conversations.get(name, "").lower() == wanted:
                return name
        raise SourceError(
            f"the export has no channel #{wanted}; it has {_listed(names)}", "channel"
        )
    if len(names) == 1:
        return names[0]
    holding = [name for name in names if hint and hint.lower() in name.lower()]
    return holding[0] if len(holding) == 1 else None


def _busiest(export, window):
    """The only channel with day files around the window (their sizes tell, without reading
    them); else SourceError naming those that have, the busiest first."""
    first, last = export.day_range(window)
    sizes = {}
    for name, days in export.days.items():
        size = sum(export.files.size(path) for day, path in days.items() if first <= day <= last)
        if size > len("[]"):
            sizes[name] = size
    if len(sizes) == 1:
        return next(iter(sizes))
    if not sizes:
        raise SourceError(
            "no channel of the export has messages on the window's days; it has "
            + _listed(sorted(export.days)),
            "channel",
        )
    busiest = sorted(sizes, key=lambda name: (-sizes[name], name))
    raise SourceError(
        f"{len(busiest)} channels have messages on the window's days: {_listed(busiest)}. "
        "Name the channel to import",
        "channel",
    )


def _listed(names):
    shown = ", ".join(f"#{name}" for name in names[:SHOWN_CHANNELS])
    more = len(names) - SHOWN_CHANNELS
    return shown + (f" and {more:,} more" if more > 0 else "")


def _candidate(message, window):
    """(moment, message) of a message worth keeping sent in the window; OUTSIDE when sent
    outside it, False without a time, None when it is not one worth keeping."""
    subtype = message.get("subtype")
    if subtype == "message_changed" and isinstance(message.get("message"), dict):
        message = {**message["message"], "ts": message["message"].get("ts", message.get("ts"))}
        subtype = message.get("subtype")
    if not isinstance(subtype, str | None) or subtype in SKIPPED:
        return None
    if message.get("type", "message") != "message":
        return None
    moment = _moment(message.get("ts"))
    if moment is None:
        return False
    return (moment, message) if moment in window else OUTSIDE


def _made(export, channel, moment, message):
    """The entry of a message, or None when it says nothing."""
    text = _plain(message.get("text"), export)
    extras = [_attachment_text(a) for a in _dicts(message.get("attachments"))]
    if not text:
        text = next((t for t in extras if t), "")
    files = [_first(f.get("title"), f.get("name")) for f in _dicts(message.get("files"))]
    text = " ".join([text, *(f"[file: {name}]" for name in files if name)]).strip()
    if not text:
        return None
    who = _author(export, message)
    thread = message.get("thread_ts")
    detail = ", in a thread" if thread and thread != message.get("ts") else ""
    source = f"slack #{export.conversations.get(channel, channel)}"
    return Entry.of(moment, text, f"{source} ({who}{detail})" if who else source)


def _author(export, message):
    user = message.get("user")
    if isinstance(user, str) and user in export.users:
        return export.users[user]
    profile = message.get("user_profile") if isinstance(message.get("user_profile"), dict) else {}
    bot = message.get("bot_profile") if isinstance(message.get("bot_profile"), dict) else {}
    return _first(
        profile.get("real_name"),
        profile.get("display_name"),
        message.get("username"),
        bot.get("name"),
        user,
    )


def _attachment_text(attachment):
    return _first(attachment.get("fallback"), attachment.get("text"), attachment.get("title"))


def _plain(text, export):
    """Slack's message markup as plain text: mentions by name, links with their address."""
    if not isinstance(text, str):
        return ""

    def swap(match):
        target, _, label = match.group(1).partition("|")
        if target.startswith("@"):
            return "@" + (export.users.get(target[1:]) or label or target[1:])
        if target.startswith("#"):
            return "#" + (label or export.conversations.get(target[1:], target[1:]))
        if target.startswith("!subteam^"):
            return label or "@team"
        if target.startswith("!date^"):
            return label or target
        if target.startswith("!"):
            return "@" + (label or target[1:])
        if target.startswith("mailto:"):
            return label or target[len("mailto:") :]
        return f"{label} ({target})" if label and label != target else target

    text = _ANGLE.sub(swap, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()


def _moment(ts):
    if isinstance(ts, int | float) and not isinstance(ts, bool):
        ts = str(ts)
    if not isinstance(ts, str) or not _TS.match(ts):
        return None
    try:
        return datetime.fromtimestamp(float(ts), UTC).replace(microsecond=0)
    except (OverflowError, OSError, ValueError):
        return None


def _json(data, path):
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise SourceError(f"{path} is not UTF-8 text") from None
    except (ValueError, RecursionError) as exc:
        raise SourceError(f"{path} is not valid JSON ({exc})") from None


def _date(text):
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        return None


def _dicts(value):
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _first(*values):
    return next((v.strip() for v in values if isinstance(v, str) and v.strip()), "")
