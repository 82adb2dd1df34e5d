"""Random documents for the search engine's property tests (hypothesis strategies): few
words, so that documents share terms and phrases occur, and the keyword fields a search
counts and filters by."""

from hypothesis import strategies as st

PEOPLE = ("ann@example.org", "bob@example.org", "cy@example.org")
TEAMS = ("sre", "payments", "data")
SERVICES = ("api", "db", "web")
TAGS = ("dns", "tls")
STARTS = ("2025-03-01T10:00:00Z", "2026-02-01T10:00:00Z")


def words(vocabulary, max_words, min_words=0):
    return st.lists(st.sampled_from(vocabulary), min_size=min_words, max_size=max_words).map(
        " ".join
    )


def subset(values):
    return st.lists(st.sampled_from(values), unique=True, max_size=2)


def documents(vocabulary, *, lengths=(14, 6, 4), people=PEOPLE, visibility=None, starts=STARTS):
    """Documents in the document format, their text drawn from `vocabulary`. `lengths`: the
    most words of the summary, of the lessons and of a contributing factor; `visibility`:
    the values drawn (repeat one to draw it more often)."""
    summary, lessons, factor = lengths
    return st.fixed_dictionaries(
        {
            "title": words(vocabulary, 4, min_words=1),
            "summary": words(vocabulary, summary),
            "lessons": words(vocabulary, lessons),
            "contributing_factors": st.lists(
                st.fixed_dictionaries(
                    {
                        "text": words(vocabulary, factor),
                        "category": st.sampled_from(["config", "capacity", None]),
                    }
                ),
                max_size=2,
            ),
            "services": subset(SERVICES),
            "teams": subset(TEAMS),
            "tags": subset(TAGS),
            "severity": st.sampled_from(["SEV1", "SEV2", None]),
            "kind": st.sampled_from(["incident", "near-miss"]),
            "status": st.sampled_from(["published", "draft"]),
            "visibility": st.sampled_from(visibility or ("internal", "restricted")),
            "authors": subset(people),
            "readers": subset(people),
            "started_at": st.sampled_from(starts),
        }
    )
