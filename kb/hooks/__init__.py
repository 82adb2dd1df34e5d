"""Outgoing webhooks: tell other systems (a chat channel, a ticket tracker) what happened.

registry.py (adding, listing and removing hooks), events.py (what happened: a delivery per
interested hook, written in the transaction of the change), payloads.py (the bodies sent: the
versioned JSON of docs/webhooks.md or a chat message), delivery.py (sending what is due, with
retries and the lease that keeps two servers from sending one delivery at once), worker.py
(the background thread of each server). Nothing here imports kb.web.
"""

EVENTS = (
    "postmortem.published",
    "review.requested",
    "review.decided",
    "action_item.overdue",
    "digest.sent",
)
FORMATS = ("json", "slack")  # slack: the incoming-webhook message Slack, Mattermost and
# Rocket.Chat all accept ({"text": ...})
PAYLOAD_VERSION = 1
