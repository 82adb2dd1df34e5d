"""Months and durations computed by the database, so that no timestamp of tens of thousands of
rows has to be converted in Python."""

from datetime import date

from sqlalchemy import Date, Integer, cast, func, literal


def sql_month(session, column):
    """The YYYY-MM of a timestamp in UTC, computed by the database (whatever time zone the
    database server or session is set to)."""
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m", column)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM")


def sql_minutes(session, start, end):
    """Minutes from `start` to `end`, computed by the database (NULL if either is)."""
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 1440.0
    return func.extract("epoch", end - start) / 60.0


def sql_day_number(session, column):
    """A date as date.toordinal() would number it, computed by the database (NULL stays)."""
    if session.get_bind().dialect.name == "sqlite":
        return cast(func.julianday(column) - 1721424.5, Integer)
    return column - literal(date(1, 1, 1), Date) + 1
