"""The search page (/search) and the search API (/api/v1/search)."""

from datetime import UTC, datetime

from flask import Blueprint, current_app, jsonify, render_template, request, url_for
from flask_login import current_user, login_required
from markupsafe import Markup

from kb.search import expand, synonyms
from kb.search import query as search_query
from kb.search.service import service_for
from kb.web import field_error, params
from kb.web.errors import error_json
from kb.web.openapi import error_responses, ok, ref

bp = Blueprint("search", __name__)
MAX_PER_PAGE = 50
FACET_PARAMS = tuple(search_query.FACET_FIELD)


def _run(per_page):
    filters = {p: request.args.getlist(p) for p in FACET_PARAMS if request.args.getlist(p)}
    page = params.arg_number("page", 1)
    return service_for(current_app).search(
        current_user,
        request.args.get("q", ""),
        filters=filters,
        sort=request.args.get("sort", "relevance"),
        page=page,
        per_page=per_page,
        synonym_table=synonyms.current(current_app.config.get("SYNONYMS")),
        correct=request.args.get("literal") != "1",
    )


@bp.route("/search")
@login_required
def index():
    result = _run(search_query.PER_PAGE)
    return render_template(
        "search/index.html",
        result=result,
        url=_url_maker(result),
        max_terms=expand.MAX_TERMS,
        follows=service_for(current_app).follows,
    )


def _url_maker(result):
    """A function building /search URLs from the current one, with changes."""

    def url(toggle=None, **changes):
        args = {
            "q": result.text or None,
            "sort": result.sort if result.sort != "relevance" else None,
            # the words as typed, once the reader chose them over the corrected ones
            "literal": "1" if request.args.get("literal") == "1" else None,
        }
        filters = {k: list(v) for k, v in result.filters.items()}
        if toggle is not None:
            param, value = toggle
            values = filters.setdefault(param, [])
            if value.lower() in {v.lower() for v in values}:
                filters[param] = [v for v in values if v.lower() != value.lower()]
            else:
                values.append(value)
        args.update(filters)
        args.update(changes)
        if "page" not in changes:
            args.pop("page", None)
        return url_for("search.index", **{k: v for k, v in args.items() if v})

    return url


@bp.app_template_filter("epoch_date")
def _epoch_date(value, fmt="%d %b %Y"):
    return datetime.fromtimestamp(value, UTC).strftime(fmt) if value else ""


@bp.app_template_filter("marked")
def _marked(html):
    # highlight.MarkFormatter escapes every character of the text and adds only <mark> tags.
    return Markup(html)  # noqa: S704


# --- API ----------------------------------------------------------------------------------


@bp.route("/api/v1/search")
@login_required
def api_search():
    args = params.read_all(API_PARAMETERS)  # page is refused here if bad; _run reads it
    result = _run(args["per_page"])
    if result.error:
        return field_error("q", result.error)
    if result.rebuilding:
        message = "The search index is being rebuilt. Try again in a minute."
        response, status = error_json(503, "Service Unavailable", message=message)
        return response, status, {"Retry-After": "30"}
    return jsonify(
        query=result.text,
        sort=result.sort,
        total=result.total,
        page=result.page,
        per_page=result.per_page,
        pages=result.pages,
        relaxed=result.relaxed,
        min_words=result.min_words,
        words=result.words,
        cut=result.cut,
        suggestion=result.suggestion,
        corrected_from=result.corrected_from,
        also_searched=result.also,
        exact_words=result.exact,
        ignored_words=result.ignored,
        hits=[_hit_json(h) for h in result.hits],
        facets={
            f.param: [
                {"value": v.value, "count": v.count, "selected": v.selected} for v in f.values
            ]
            for f in result.facets
        },
    )


def _hit_json(hit):
    highlights = []
    if hit.passage is not None:
        highlights.append(
            {
                "section": hit.passage.section,
                "heading": hit.passage.heading,
                "html": hit.passage.html,
            }
        )
    return {
        "ref": hit.ref,
        "title": hit.title,
        "url": url_for("postmortems.show", ref=hit.ref, _external=True),
        "score": hit.score,
        "severity": hit.severity,
        "kind": hit.kind,
        "status": hit.status,
        "started_at": _epoch_date(hit.started, "%Y-%m-%dT%H:%M:%SZ") or None,
        "services": hit.services,
        "teams": hit.teams,
        "tags": hit.tags,
        "highlights": highlights,
    }


# The API's paging and order: read by api_search, described below.
API_PARAMETERS = (
    params.Query.number("per_page", search_query.PER_PAGE, 1, MAX_PER_PAGE),
    params.Query.number("page", 1, 1, search_query.MAX_PAGE),
    params.Query.choice("sort", search_query.SORTS, "relevance"),
)
_FACET_PARAMETERS = [
    {
        "name": param,
        "in": "query",
        "required": False,
        "description": f"Only results with this {param} (repeatable; every value must match).",
        "schema": {"type": "array", "items": {"type": "string"}},
        "style": "form",
        "explode": True,
    }
    for param in FACET_PARAMS
]

OPENAPI_SCHEMAS = {
    "SearchHit": {
        "type": "object",
        "properties": {
            "ref": {"type": "string"},
            "title": {"type": "string"},
            "url": {"type": "string"},
            "score": {"type": "number", "nullable": True},
            "severity": {"type": "string", "nullable": True},
            "kind": {"type": "string"},
            "status": {"type": "string"},
            "started_at": {"type": "string", "nullable": True},
            "services": {"type": "array", "items": {"type": "string"}},
            "teams": {"type": "array", "items": {"type": "string"}},
            "tags": {"type": "array", "items": {"type": "string"}},
            "highlights": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "section": {"type": "string"},
                        "heading": {"type": "string"},
                        "html": {
                            "type": "string",
                            "description": "HTML-escaped text with <mark> around matches",
                        },
                    },
                },
            },
        },
    },
    "SearchResults": {
        "type": "object",
        "properties": {
            "query": {"type": "string"},
            "sort": {"type": "string", "enum": list(search_query.SORTS)},
            "total": {"type": "integer"},
            "page": {"type": "integer"},
            "per_page": {"type": "integer"},
            "pages": {"type": "integer"},
            "relaxed": {
                "type": "boolean",
                "description": "No result had every word: these have some of them",
            },
            "cut": {
                "type": "boolean",
                "description": "A wildcard, prefix or range matched more words than were searched",
            },
            "min_words": {
                "type": "integer",
                "description": "When relaxed: the fewest of the query's words a hit holds",
            },
            "words": {
                "type": "integer",
                "description": "The words searched for (each with its synonyms)",
            },
            "suggestion": {"type": "string", "nullable": True},
            "corrected_from": {
                "type": "string",
                "nullable": True,
                "description": "The query as typed, when it found nothing and these are the "
                "results of the corrected words in `query` (literal=1 searches as typed)",
            },
            "also_searched": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Synonyms searched besides the words typed",
            },
            "exact_words": {
                "type": "array",
                "items": {"type": "string"},
                "description": 'Words typed between quotes one by one ("cert"): searched as '
                "written, without their other forms and without synonyms",
            },
            "ignored_words": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Question words left out of the search",
            },
            "hits": {"type": "array", "items": ref("SearchHit")},
            "facets": {
                "type": "object",
                "additionalProperties": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "value": {"type": "string"},
                            "count": {"type": "integer"},
                            "selected": {"type": "boolean"},
                        },
                    },
                },
            },
        },
    },
}

OPENAPI_PATHS = {
    "/api/v1/search": {
        "get": {
            "summary": "Search the postmortems you may see",
            "description": 'Words, "phrases", AND/OR/NOT, prefix*, and fields such as '
            "service:payments severity:SEV1 (see docs/search.md). Hits, totals, facet counts "
            "and suggestions only come from postmortems visible to the caller.",
            "parameters": [
                params.Query.text("q").openapi(),
                *(query.openapi() for query in API_PARAMETERS),
                params.Query.text(
                    "literal", "1: search the words as typed, without correcting them"
                ).openapi(),
                *_FACET_PARAMETERS,
            ],
            "responses": {
                "200": ok("SearchResults", "Results"),
                **error_responses(
                    400, 401, 503, _503="The search index is being rebuilt; retry shortly"
                ),
            },
        }
    }
}
