"""Turn a Digest into a subject, a plain-text body and an HTML body for mail clients.

The templates live in templates/email/digest/. The HTML keeps its CSS in a <style> block
for writing; css-inline copies it onto each element (mail clients drop <style> blocks) and
keeps the @media rules (dark mode, narrow screens) in the block for the clients that read it.
"""

from dataclasses import dataclass

import css_inline
from flask import current_app

TEMPLATES = "email/digest/"
_INLINER = None


@dataclass(frozen=True)
class Rendered:
    """A rendered digest: what goes into one message."""

    subject: str
    text: str
    html: str


def plural(count, word, words=None):
    """'1 incident', '3 incidents' ('near miss' -> 'near misses' with words given)."""
    return f"{count} {word if count in (1, '1') else (words or word + 's')}"


def duration(minutes):
    """Minutes in words a reader takes in at a glance: 42 min, 3 h 10 min, 2 d 4 h."""
    if minutes is None:
        return "–"
    minutes = round(minutes)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def figure_value(figure, value):
    """A figure's value as shown in the table."""
    if value is None:
        return "–"
    if figure.unit == "minutes":
        return duration(value)
    if figure.unit == "percent":
        return f"{value}%"
    return str(value)


def change_word(figure):
    """'better', 'worse', 'same' or '' (no comparison possible): never colour alone."""
    if figure.change is None:
        return ""
    if figure.better is None:
        return "same"
    return "better" if figure.better else "worse"


def due_date(day, month):
    """'31 Oct' in the digest's year, '31 Oct 2025' in another."""
    return f"{day:%d %b}" if day.year == month.year else f"{day:%d %b %Y}"


def headline(digest):
    """The month in one line: what was published and what is growing."""
    parts = []
    if digest.incidents_total:
        parts.append(plural(f"{digest.incidents_total:,}", "incident"))
    near = digest.practice_counts.get("near-miss", 0)
    games = digest.practice_counts.get("game-day", 0)
    if near:
        parts.append(plural(near, "near miss", "near misses"))
    if games:
        parts.append(plural(games, "game day"))
    if digest.premortems_total:
        parts.append(plural(digest.premortems_total, "pre-mortem"))
    growing = len(digest.themes)
    if growing:
        parts.append(plural(growing, "theme") + " on the rise")
    if not parts:
        return "a quiet month"
    return ", ".join(parts)


def _environment():
    """The app's templates, with block tags that leave no blank lines (plain text cares)."""
    env = current_app.extensions.get("kb_digest_jinja")
    if env is None:
        env = current_app.jinja_env.overlay(trim_blocks=True, lstrip_blocks=True)
        current_app.extensions["kb_digest_jinja"] = env
    return env


def _inliner():
    global _INLINER  # one inliner for the process: it is immutable and thread-safe
    if _INLINER is None:
        _INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
    return _INLINER


def render(digest, *, to="", name="", unsubscribe_url=None, is_list=False, env=None):
    """Subject, text and HTML of `digest` for one recipient (the footer names them)."""
    env = env or _environment()
    context = {
        "digest": digest,
        "to": to,
        "name": name,
        "unsubscribe_url": unsubscribe_url,
        "is_list": is_list,
        "headline": headline(digest),
        "plural": plural,
        "duration": duration,
        "figure_value": figure_value,
        "change_word": change_word,
        "due_date": lambda day: due_date(day, digest.month),
        "base_url": current_app.config["BASE_URL"],
    }
    subject = env.get_template(TEMPLATES + "subject.txt").render(context)
    text = env.get_template(TEMPLATES + "body.txt").render(context)
    html = env.get_template(TEMPLATES + "body.html").render(context)
    return Rendered(
        subject=" ".join(subject.split()),
        text=_tidy_text(text),
        html=_inliner().inline(html),
    )


def _tidy_text(text):
    """No trailing spaces, at most one empty line in a row, one newline at the end."""
    lines, blank = [], False
    for line in text.splitlines():
        line = line.rstrip()
        if not line and blank:
            continue
        blank = not line
        lines.append(line)
    return "\n".join(lines).strip() + "\n"
