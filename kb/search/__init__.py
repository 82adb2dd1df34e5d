"""Full-text search: the Whoosh index derived from the database, kept in step by the change log.

service.py (what the app calls: search, note changes, rebuild, status; a null implementation),
schema.py (fields) and analysis.py (how text is read), index.py (the folder, the writer
lock, the pool of searchers), docsets.py (numpy masks for totals and facets), segments.py
(what is kept per segment between searches), documents.py (postmortems read as
index documents), applying.py (change log -> index, and rebuilding), follower.py (applying
after commits and on a poll), reporting.py (status, check, lag, the follower position),
expand.py (wildcards, prefixes and ranges to words, within a budget), synonyms.py (the
words incident writers use for the same thing), query.py (one search, in order) over
parsing.py, ranking.py (visibility, facets, the order of hits) over scoring.py (BM25F, as
Whoosh adds up a query), highlight.py with passages.py, and spelling.py (corrections);
whoosh_internals/ holds
every use of a private part of Whoosh.
Only this package imports whoosh.
"""
