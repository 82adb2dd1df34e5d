"""Full-text search: the Whoosh index derived from the database, kept in step by the change log.

schema.py (fields and analyzer), index.py (the folder, the writer lock, the shared searcher),
docsets.py (numpy masks for totals and facets), sync.py (change log -> index), query.py
(parsing, visibility, ranking, facets, highlights, suggestions). Only this package imports
whoosh.
"""
