"""Helpers for the fault tests: a PostgreSQL server of the test's own, gunicorn as a subprocess."""
