"""Dates and times as postmortems write them: "2015-10-21 14:51", "**10:02 UTC**", "~10:42 AM",
"May 24, 2020", "05/24/2020". Times without a date take the document's date; a time earlier
than the one before it (by more than an hour) has crossed midnight."""

import re
from datetime import UTC, date, datetime, timedelta

MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = (
    r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
ZONES = {
    "utc": 0,
    "gmt": 0,
    "z": 0,
    "est": -5,
    "edt": -4,
    "cst": -6,
    "cdt": -5,
    "mst": -7,
    "mdt": -6,
    "pst": -8,
    "pdt": -7,
    "cet": 1,
    "cest": 2,
    "bst": 1,
    "eet": 2,
    "eest": 3,
    "ist": 5.5,
    "jst": 9,
    "wat": 1,
    "eat": 3,
    "pt": -8,
    "et": -5,
}

_ISO = re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
_US = re.compile(r"\b(\d{1,2})[/-](\d{1,2})[/-](\d{4})\b")
_NAMED = re.compile(rf"\b{_MONTH}\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I)
_NAMED_DAY_FIRST = re.compile(
    rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\.?,?\s+(\d{{4}})\b", re.I
)
_TIME = re.compile(
    r"^[\s~≈(\[*_`]*(?:(?:at|around|approx\.?|approximately|about)\s+)?"
    r"(\d{1,2})[:h.](\d{2}|\dx|xx)(?::(\d{2}))?"
    r"\s*(am|pm|a\.m\.|p\.m\.)?"
    r"(?:\s*(?:\(?\s*(utc|gmt|z|[ecmp][sd]t|cest|cet|bst|eest|eet|ist|jst|wat|eat|pt|et)\b\s*\)?)"
    r"|(z)\b)?",
    re.I,
)
_SEPARATOR = re.compile(r"^[\s*_`)\]]*(?:[-–—:|>,.]+|\s)\s*")


def find_date(text):
    """The first calendar date written in `text`, or None."""
    found = []
    for pattern, order in ((_ISO, "ymd"), (_US, "mdy"), (_NAMED, "Mdy"), (_NAMED_DAY_FIRST, "dMy")):
        for match in pattern.finditer(text or ""):
            parts = dict(zip(order, match.groups(), strict=True))
            month = MONTHS.get(parts["M"][:3].lower() if "M" in parts else "", 0) or int(
                parts.get("m", 0)
            )
            try:
                day = date(int(parts["y"]), month, int(parts["d"]))
            except ValueError:
                if order == "mdy":  # 24/05/2020: day first
                    try:
                        day = date(int(parts["y"]), int(parts["d"]), int(parts["m"]))
                    except ValueError:
                        continue
                else:
                    continue
            if 1970 <= day.year <= 2100:
                found.append((match.start(), day))
    return min(found)[1] if found else None


def leading_time(text):
    """(hour, minute, offset hours or None, the rest of the text) when `text` starts with a
    time (after an optional date), else None. "06:2x" reads as 06:20."""
    rest = text
    iso = _ISO.match(rest.lstrip(" ~*_`[("))
    day = None
    if iso:
        day = find_date(iso.group(0))
        rest = rest.lstrip(" ~*_`[(")[iso.end() :].lstrip(" T,")
    match = _TIME.match(rest)
    if not match:
        return None
    hour, minute = int(match.group(1)), int(match.group(2).replace("x", "0"))
    meridiem = (match.group(4) or "").replace(".", "").lower()
    if meridiem == "pm" and hour < 12:
        hour += 12
    elif meridiem == "am" and hour == 12:
        hour = 0
    if hour > 23 or minute > 59:
        return None
    zone = (match.group(5) or match.group(6) or "").lower()
    tail = rest[match.end() :]
    tail = _SEPARATOR.sub("", tail, count=1).strip(" *_`")
    return day, hour, minute, ZONES.get(zone), tail


class Clock:
    """Turns the times of a timeline into UTC date-times, carrying the date forward."""

    def __init__(self, day=None, offset=None):
        self.day = day
        self.offset = offset
        self.last = None

    def at(self, day, hour, minute, offset):
        if day is not None:
            self.day = day
        if offset is not None:
            self.offset = offset
        if self.day is None:
            return None
        moment = datetime(self.day.year, self.day.month, self.day.day, hour, minute)
        if day is None and self.last is not None and moment < self.last - timedelta(hours=1):
            moment += timedelta(days=1)  # past midnight
            self.day = moment.date()
        self.last = moment
        return (moment - timedelta(hours=self.offset or 0)).replace(tzinfo=UTC)
