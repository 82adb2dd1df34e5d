"""What a search returns: a SearchResult with its hits, passages and facet counts."""

from dataclasses import dataclass, field

PER_PAGE = 10
MAX_PAGE = 100
SORTS = ("relevance", "newest")


@dataclass
class Passage:
    section: str
    heading: str
    html: str


@dataclass
class Hit:
    ref: str
    title: str
    title_html: str
    score: float | None
    severity: str | None
    kind: str
    status: str
    started: int | None
    services: list
    teams: list
    tags: list
    passage: Passage | None


@dataclass
class FacetValue:
    value: str
    count: int
    selected: bool


@dataclass
class Facet:
    field: str
    label: str
    param: str
    values: list


@dataclass
class SearchResult:
    text: str = ""
    filters: dict = field(default_factory=dict)
    sort: str = "relevance"
    page: int = 1
    per_page: int = PER_PAGE
    total: int = 0
    hits: list = field(default_factory=list)
    facets: list = field(default_factory=list)
    suggestion: str | None = None
    error: str | None = None
    rebuilding: bool = False
    relaxed: bool = False  # few or no documents had every word: these have some of them
    words: int = 0  # the words (each with its synonyms) the query searched for
    min_words: int = 0  # when relaxed to "most of the words": the fewest a hit holds
    also: list = field(default_factory=list)  # synonyms searched besides the words typed
    ignored: list = field(default_factory=list)  # question words left out
    exact: list = field(default_factory=list)  # words typed between quotes, searched as written
    corrected_from: str | None = None  # the text typed, when these are the corrected words'
    cut: bool = False  # a wildcard, prefix or range matched more words than were searched

    @property
    def pages(self):
        return max(1, min(MAX_PAGE, -(-self.total // self.per_page)))
