from datetime import UTC, date, datetime

import pytest

from kb import months


def test_steps_cross_year_boundaries_both_ways():
    assert months.next_month(date(2025, 12, 31)) == date(2026, 1, 1)
    assert months.previous_month(date(2026, 1, 15)) == date(2025, 12, 1)
    assert months.shift_month(date(2026, 3, 9), -15) == date(2024, 12, 1)
    assert months.shift_month(date(2026, 3, 9), 22) == date(2028, 1, 1)


def test_between_is_inclusive_and_empty_when_reversed():
    span = months.months_between(date(2025, 11, 20), date(2026, 2, 3))
    assert span == [date(2025, 11, 1), date(2025, 12, 1), date(2026, 1, 1), date(2026, 2, 1)]
    assert months.months_between(date(2026, 2, 1), date(2026, 1, 1)) == []


def test_index_counts_months_and_round_trips():
    first, last = date(2024, 11, 1), date(2026, 2, 1)
    assert months.month_index(last) - months.month_index(first) == 15
    assert months.month_from_index(months.month_index(last)) == last


def test_parse_refuses_what_is_not_a_month_or_has_not_begun():
    today = date(2026, 11, 27)
    assert months.parse_month(" 2026-10 ", today=today) == date(2026, 10, 1)
    for bad in ("2026-13", "2026-1", "26-10", "", None, "1969-12"):
        with pytest.raises(months.MonthError, match="is not a month"):
            months.parse_month(bad, today=today)
    with pytest.raises(months.MonthError, match="has not begun yet"):
        months.parse_month("2026-12", today=today)
    assert months.parse_month("2027-01", today=today, allow_future=True) == date(2027, 1, 1)
    assert months.parse_month("1950-01", earliest=1900) == date(1950, 1, 1)


def test_bounds_and_keys():
    assert months.month_begins(date(2026, 12, 5)) == datetime(2026, 12, 1, tzinfo=UTC)
    assert months.month_ends(date(2026, 12, 5)) == datetime(2027, 1, 1, tzinfo=UTC)
    assert months.month_key(date(2026, 3, 1)) == "2026-03"
    assert months.last_ended_month(date(2026, 1, 1)) == date(2025, 12, 1)
