"""A deterministic synthetic corpus of postmortem documents, for benchmarks.

Sentences are assembled from small vocabularies, so the same seed gives the same corpus on
every machine. It is made here, never copied from real postmortems.
"""

import random
from datetime import UTC, datetime, timedelta

from kb.models import ACTION_STATUSES, TRIGGERS

SERVICES = [
    "checkout-api",
    "payments-gateway",
    "catalog-search",
    "edge-proxy",
    "auth-service",
    "order-events",
    "inventory-db",
    "notifications",
    "mobile-bff",
    "warehouse-sync",
    "pricing",
    "recommendations",
    "delivery-routing",
    "ledger",
    "identity",
]
TEAMS = ["payments", "platform", "storefront", "data", "mobile", "security", "sre", "logistics"]
CATEGORIES = [
    "change-management",
    "certificates",
    "capacity",
    "retries",
    "monitoring",
    "dns",
    "database",
    "feature-flags",
    "dependencies",
    "storage",
]
SUBJECTS = [
    "the connection pool",
    "a configuration push",
    "the certificate on the load balancer",
    "the retry policy",
    "the alerting rule",
    "the resolver cache",
    "a schema migration",
    "the feature flag",
    "the upstream provider",
    "the log volume",
    "the queue consumer",
    "the cache cluster",
    "the deploy pipeline",
    "the rate limiter",
    "the batch job",
]
VERBS = [
    "exhausted",
    "expired",
    "amplified",
    "missed",
    "delayed",
    "locked",
    "flipped",
    "timed out",
    "filled",
    "overloaded",
    "dropped",
    "stalled",
    "corrupted",
    "throttled",
]
OBJECTS = [
    "under peak traffic",
    "during the evening rollout",
    "after a regional failover",
    "while the primary was replaced",
    "for every tenant at once",
    "without a canary",
    "during the sale",
    "on half of the hosts",
    "in the eu-west region",
    "after the dependency upgrade",
    "because nothing watched its expiry",
]
WORDS = [
    "latency",
    "error",
    "budget",
    "saturation",
    "backlog",
    "rollback",
    "canary",
    "throughput",
    "replica",
    "shard",
    "partition",
    "heartbeat",
    "quorum",
    "lease",
    "checkpoint",
    "snapshot",
    "failover",
    "circuit",
    "breaker",
    "jitter",
    "backoff",
    "timeout",
    "deadline",
    "idempotent",
    "retry",
    "queue",
    "consumer",
    "producer",
    "offset",
    "lag",
    "alert",
    "pager",
    "runbook",
    "dashboard",
    "metric",
    "trace",
    "span",
    "sampling",
    "cardinality",
    "index",
    "vacuum",
]


def sentence(rng):
    return f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(VERBS)} {rng.choice(OBJECTS)}."


def paragraph(rng, words):
    out = []
    while sum(len(s.split()) for s in out) < words:
        if rng.random() < 0.5:
            out.append(sentence(rng))
        else:
            out.append(
                " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14))).capitalize() + "."
            )
    return " ".join(out)


def document(n, rng, start=datetime(2024, 1, 1, tzinfo=UTC)):
    """Document number n: about 400 words, every field of the format filled."""
    started = start + timedelta(minutes=rng.randint(0, 60 * 24 * 700))
    detected = started + timedelta(minutes=rng.randint(1, 90))
    mitigated = detected + timedelta(minutes=rng.randint(5, 240))
    resolved = mitigated + timedelta(minutes=rng.randint(5, 600))
    published = resolved + timedelta(days=rng.randint(2, 20))

    def stamp(value):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")

    factors = [
        {"text": sentence(rng), "category": rng.choice(CATEGORIES + [None])}
        for _ in range(rng.randint(2, 4))
    ]
    return {
        "ref": f"SYN-{started.year}-{n:06d}",
        "title": sentence(rng)[:-1],
        "kind": rng.choices(["incident", "near-miss", "game-day"], [8, 1, 1])[0],
        "status": rng.choices(["published", "in-review", "draft"], [8, 1, 1])[0],
        "severity": rng.choice(["SEV1", "SEV2", "SEV3", "SEV4"]),
        "visibility": rng.choices(["internal", "restricted"], [19, 1])[0],
        "teams": rng.sample(TEAMS, rng.randint(1, 2)),
        "services": rng.sample(SERVICES, rng.randint(1, 3)),
        "tags": rng.sample(CATEGORIES, 2),
        "trigger": rng.choice(TRIGGERS),
        "started_at": stamp(started),
        "detected_at": stamp(detected),
        "mitigated_at": stamp(mitigated),
        "resolved_at": stamp(resolved),
        "published_at": stamp(published),
        "summary": paragraph(rng, 50),
        "impact": paragraph(rng, 40),
        "detection": paragraph(rng, 40),
        "response": paragraph(rng, 60),
        "went_well": paragraph(rng, 25),
        "went_poorly": paragraph(rng, 25),
        "got_lucky": paragraph(rng, 15),
        "surprises": paragraph(rng, 15),
        "lessons": paragraph(rng, 40),
        "timeline": [
            {
                "at": stamp(started + timedelta(minutes=i * 7)),
                "text": sentence(rng),
                "source": "pagerduty",
            }
            for i in range(4)
        ],
        "contributing_factors": factors,
        "action_items": [
            {
                "title": f"Make sure {sentence(rng)[:-1].lower()} cannot happen again",
                "owner": rng.choice(TEAMS),
                "due": (published + timedelta(days=rng.randint(7, 60))).date().isoformat(),
                "status": rng.choice(ACTION_STATUSES),
                "factor": rng.randrange(len(factors)),
            }
            for _ in range(rng.randint(1, 3))
        ],
    }


def documents(count, seed=20261127):
    """`count` documents, the same ones every time for the same seed."""
    rng = random.Random(seed)
    return [document(n, rng) for n in range(1, count + 1)]
