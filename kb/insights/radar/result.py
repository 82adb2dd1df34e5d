"""The risk radar's answer (kb.insights.radar): its entries, its limits and its input."""

from dataclasses import dataclass, field
from datetime import date, datetime

from kb.document import normalise_name
from kb.document_format import NAME_HINT, NAME_RE
from kb.models import TRIGGERS

PAST_KINDS = ("incident", "near-miss")  # never pre-mortems or game days
MAX_SERVICES = 30
MAX_TEXT = 20_000  # characters of text considered (similar.MAX_QUERY_TEXT)
THEMES_SHOWN = 5
SIMILAR_SHOWN = 8
ACTIONS_SHOWN = 10


class RadarInputError(ValueError):
    """Input the radar cannot take; `field` names it."""

    def __init__(self, field, message):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


@dataclass
class Entry:
    """What every entry carries: where it comes from, quotable, and a risk to suggest."""

    source: str = ""
    risk: str = ""


@dataclass
class RadarTheme(Entry):
    id: int = 0
    label: str = ""
    count: int = 0  # past incidents of the services in this theme
    latest_ref: str = ""
    latest_title: str = ""
    latest_at: datetime | None = None


@dataclass
class RadarIncident(Entry):
    ref: str = ""
    title: str = ""
    kind: str = ""
    started_at: datetime | None = None
    score: float = 0.0
    services: list = field(default_factory=list)  # shared with the change
    terms: list = field(default_factory=list)  # shared words
    themes: list = field(default_factory=list)  # labels of shared themes


@dataclass
class RadarAction(Entry):
    title: str = ""
    owner: str | None = None
    due: date | None = None
    overdue: bool = False
    status: str = "open"
    ref: str = ""
    postmortem_title: str = ""
    services: list = field(default_factory=list)  # which of the change's services


@dataclass
class ChangeShare(Entry):
    trigger: str = "unknown"
    matching: int = 0  # past incidents of the services that followed this trigger
    total: int = 0  # past incidents of the services
    by_trigger: dict = field(default_factory=dict)
    overall_matching: int = 0  # the same, over every service
    overall_total: int = 0

    @property
    def share(self):
        """matching / total, or None without incidents."""
        return self.matching / self.total if self.total else None

    @property
    def overall_share(self):
        """The share over every service, for comparison."""
        return self.overall_matching / self.overall_total if self.overall_total else None


@dataclass
class Radar:
    services: list
    trigger: str
    incidents: int = 0  # past incidents of the services the reader may see
    themes: list = field(default_factory=list)
    similar: list = field(default_factory=list)
    open_actions: list = field(default_factory=list)
    open_total: int = 0
    overdue_total: int = 0
    change_share: ChangeShare | None = None


def clean_input(services, trigger, text):
    """(services, trigger, text) checked and normalised, or RadarInputError naming the field.

    Services are names as the document stores them (kb.document.normalise_name, then
    NAME_RE), at most MAX_SERVICES; the trigger one of TRIGGERS; text at most MAX_TEXT.
    """
    if not isinstance(services, list) or not all(isinstance(s, str) for s in services):
        raise RadarInputError("services", "must be a list of service names")
    names = []
    for raw in services:
        name = normalise_name(raw)
        if not name:
            continue
        if not NAME_RE.match(name):
            raise RadarInputError("services", f"{raw[:80]!r} is not {NAME_HINT}")
        if name not in names:
            names.append(name)
    if len(names) > MAX_SERVICES:
        raise RadarInputError("services", f"at most {MAX_SERVICES} services")
    if trigger is None or trigger == "":
        trigger = "unknown"
    if not isinstance(trigger, str) or trigger not in TRIGGERS:
        raise RadarInputError("trigger", f"must be one of {', '.join(TRIGGERS)}")
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise RadarInputError("text", "must be text")
    if len(text) > MAX_TEXT:
        raise RadarInputError("text", f"must be at most {MAX_TEXT:,} characters")
    return names, trigger, text
