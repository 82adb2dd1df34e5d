"""Operations: request ids and JSON logs, Prometheus metrics, health checks, backup and restore.

observability.py (request ids, JSON logs, request metrics), metrics.py (the Prometheus
exposition, figures read from the database at scrape time), health.py (readiness), backup.py
(`kb backup` / `kb restore`). See docs/operations.md.
"""
