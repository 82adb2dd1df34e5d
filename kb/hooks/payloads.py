"""The request a hook receives: its body (the versioned JSON of docs/webhooks.md, or a chat
message) and its headers (the event, the delivery id, the signature)."""

import hashlib
import hmac
import json

from kb.hooks import PAYLOAD_VERSION

USER_AGENT = f"Hindsight-Webhooks/{PAYLOAD_VERSION}"


def sign(secret, body):
    """`sha256=<hex HMAC-SHA256 of the body>`, the value of X-Hindsight-Signature."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def envelope(delivery, sent_at):
    """The JSON payload: version, event, delivery id, time of sending, then the event's data."""
    return {
        "version": PAYLOAD_VERSION,
        "event": delivery.event,
        "delivery": delivery.uuid,
        "sent_at": sent_at.isoformat().replace("+00:00", "Z"),
        **delivery.data,
    }


def body(hook, delivery, sent_at):
    """The bytes sent to `hook` for `delivery` (the signature is of exactly these)."""
    if hook.format == "slack":
        payload = {"text": chat_text(delivery.event, delivery.data)}
    else:
        payload = envelope(delivery, sent_at)
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def headers(hook, delivery, data):
    """The request's headers for the body `data`."""
    result = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-Hindsight-Event": delivery.event,
        "X-Hindsight-Delivery": delivery.uuid,
    }
    if hook.secret:
        result["X-Hindsight-Signature"] = sign(hook.secret, data)
    return result


def _escape(text):
    # Slack's three control characters; Mattermost and Rocket.Chat show the entities as text
    # characters too.
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _pm_line(pm):
    facts = ", ".join(x for x in (pm.get("severity"), pm.get("kind")) if x)
    line = f"{pm['ref']}: {pm['title']}" + (f" ({facts})" if facts else "")
    return _escape(line)


def _who(actor):
    if not actor:
        return "Someone"
    return _escape(actor.get("name") or actor.get("email") or "Someone")


def chat_text(event, data):
    """The message of a chat incoming webhook: plain text with the link on its own line, which
    Slack, Mattermost and Rocket.Chat all show (and link) the same way."""
    pm = data.get("postmortem")
    url = (pm or {}).get("url") or ""
    if event == "postmortem.published":
        lines = [f"Postmortem published: {_pm_line(pm)}"]
        if pm.get("summary"):
            lines.append(_escape(pm["summary"]))
    elif event == "review.requested":
        names = ", ".join(_who(r) for r in data.get("reviewers") or []) or "a reviewer"
        lines = [f"{_who(data.get('actor'))} asked {names} to review {_pm_line(pm)}"]
    elif event == "review.decided":
        verb = "approved" if data.get("decision") == "approved" else "asked for changes to"
        lines = [f"{_who(data.get('actor'))} {verb} {_pm_line(pm)}"]
        if data.get("comment"):
            lines.append(f"“{_escape(data['comment'])}”")
    elif event == "action_item.overdue":
        item = data["action_item"]
        owner = f" (owner: {_escape(item['owner'])})" if item.get("owner") else ""
        lines = [
            f"Action item overdue by {item['days_overdue']} days{owner}: {_escape(item['title'])}",
            f"From {_pm_line(pm)}",
        ]
    elif event == "digest.sent":
        digest = data["digest"]
        lines = [
            f"The lessons-learned digest of {digest['month']} went to {digest['sent']} "
            f"{'address' if digest['sent'] == 1 else 'addresses'}."
        ]
        url = digest.get("url") or ""
    else:
        lines = [_escape(event)]
    if url:
        lines.append(url)
    return "\n".join(lines)
