"""Recurring themes: rebuild them from the published factors, store them, read them back.

- reading: the themes list, one theme, a postmortem's themes (through the visibility rule);
- details: a theme's quotes, services and action items;
- trends: how themes move month to month (for the digest);
- rebuild: `kb themes rebuild`, which fits the models and stores the rows;
- naming: the labels.
"""

from kb.insights.themes.details import MAX_QUOTES, add_details
from kb.insights.themes.members import RECURRING
from kb.insights.themes.reading import (
    ThemeView,
    factor_refs,
    get_theme,
    labels_as_seen,
    last_run,
    list_themes,
    theme_of_factors,
)
from kb.insights.themes.rebuild import (
    METHOD_VERSION,
    RebuildReport,
    fingerprint,
    is_stale,
    rebuild,
)
from kb.insights.themes.trends import TREND_MONTHS, ThemeTrend, is_growing, trending

__all__ = [
    "MAX_QUOTES",
    "METHOD_VERSION",
    "RECURRING",
    "TREND_MONTHS",
    "RebuildReport",
    "ThemeTrend",
    "ThemeView",
    "add_details",
    "factor_refs",
    "fingerprint",
    "get_theme",
    "is_growing",
    "is_stale",
    "labels_as_seen",
    "last_run",
    "list_themes",
    "rebuild",
    "theme_of_factors",
    "trending",
]
