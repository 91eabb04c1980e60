"""Dates of a series: parse the common spellings, detect the frequency, continue it exactly.

A date column becomes a `DateIndex`: calendar dates, the `Frequency` between them and the
spelling to write new dates in. Months, quarters and years are stepped by calendar months
(a month-end stays a month-end: 2009-09-30 is followed by 2009-12-31, not 2009-12-30);
days and weeks by days.

    >>> index = DateIndex.parse(["2009-03-31", "2009-06-30", "2009-09-30"])
    >>> index.frequency.name, index.future(2)
    ('quarterly', ['2009-12-31', '2010-03-31'])
    >>> DateIndex.parse(["1949-Q3", "1949-Q4"]).future(2)
    ['1950-Q1', '1950-Q2']
"""

from __future__ import annotations

import calendar
import datetime
import re
from collections.abc import Sequence
from dataclasses import dataclass

from unrolled.errors import ConfigError

_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ]00:00(?::00)?)?$")
_SLASHED_ISO = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$")
_MONTH = re.compile(r"^(\d{4})([-/])(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})([- ]?)([Qq])([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")
_NUMERIC = re.compile(r"^(\d{1,2})([/.-])(\d{1,2})\2(\d{4})$")  # 01/31/2020 or 31.01.2020


class DateError(ConfigError):
    """A date column cannot be read or continued; `index` is the position of the bad value."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


@dataclass(frozen=True)
class Frequency:
    """The step between dates: `days` for daily and weekly data, else `months` with an anchor.

    `anchor` is "end" (every date is its month's last day) or a day of the month.
    """

    name: str  # daily, weekly, every N days, business daily, monthly, quarterly, yearly, every N months
    days: int = 0
    months: int = 0
    anchor: str | int = 1

    @property
    def season(self) -> int | None:
        """The usual season length in steps (12 for monthly data), or None."""
        return {"monthly": 12, "quarterly": 4, "weekly": 52, "daily": 7, "business daily": 5}.get(
            self.name
        )

    def advance(self, date: datetime.date, steps: int = 1) -> datetime.date:
        """`date` moved on by `steps` steps of this frequency."""
        if self.name == "business daily":
            return _business_days(date, steps)
        if self.days:
            return date + datetime.timedelta(days=self.days * steps)
        total = date.year * 12 + date.month - 1 + self.months * steps
        year, month = divmod(total, 12)
        last = calendar.monthrange(year, month + 1)[1]
        day = last if self.anchor == "end" else min(int(self.anchor), last)
        return datetime.date(year, month + 1, day)


@dataclass(frozen=True)
class DateIndex:
    """Parsed dates, their frequency and their spelling (`style`: iso, month, quarter, year or a strptime format)."""

    labels: tuple[str, ...]
    dates: tuple[datetime.date, ...]
    frequency: Frequency | None
    style: str
    separator: str = "-"

    @classmethod
    def parse(
        cls, texts: Sequence[str], date_format: str | None = None, sort_check: bool = True
    ) -> DateIndex:
        """Parses `texts`; the frequency is detected when the dates are increasing.

        Raises:
            DateError: a value that is no date, day-first/month-first ambiguity, or (with
                `sort_check`) dates that are not evenly spaced; `.index` names the value.
        """
        dates, style, separator = parse_dates(texts, date_format)
        frequency = detect_frequency(dates, style) if sort_check and len(dates) > 1 else None
        return cls(tuple(texts), tuple(dates), frequency, style, separator)

    def future(self, steps: int) -> list[str]:
        """The labels of the `steps` dates after the last one, spelled as the data spells them."""
        if self.frequency is None:
            raise DateError("The dates have no detected frequency to continue.")
        last = self.dates[-1]
        return [self.format(self.frequency.advance(last, k)) for k in range(1, steps + 1)]

    def format(self, date: datetime.date) -> str:
        """`date` spelled in this index's style."""
        if self.style == "iso":
            return date.isoformat()
        if self.style == "month":
            return f"{date.year:04d}{self.separator}{date.month:02d}"
        if self.style == "quarter":
            return f"{date.year:04d}{self.separator}{(date.month - 1) // 3 + 1}"
        if self.style == "year":
            return f"{date.year:04d}"
        return date.strftime(self.style)


def parse_dates(
    texts: Sequence[str], date_format: str | None = None
) -> tuple[list[datetime.date], str, str]:
    """Calendar dates of `texts`, the style they are written in and its separator.

    Periods are dated by their first day ("1949-Q2" is 1949-04-01); the style keeps the spelling.
    """
    if not texts:
        return [], "iso", "-"
    if date_format:
        out = []
        for i, text in enumerate(texts):
            try:
                out.append(datetime.datetime.strptime(text.strip(), date_format).date())
            except ValueError:
                raise DateError(
                    f"expected a date in --date-format {date_format!r}, found {text!r}", i
                ) from None
        return out, date_format, "-"
    first = texts[0].strip()
    for pattern, style in (
        (_ISO, "iso"),
        (_SLASHED_ISO, "%Y/%m/%d"),
        (_MONTH, "month"),
        (_QUARTER, "quarter"),
        (_YEAR, "year"),
    ):
        match = pattern.match(first)
        if match:
            separator = _separator(match, style)
            return [_parse_one(t, pattern, style, i) for i, t in enumerate(texts)], style, separator
    if _NUMERIC.match(first):
        return _parse_numeric(texts)
    raise DateError(
        f"expected a date such as 2020-01-31, 2020-01, 2020-Q1, 2020 or 01/31/2020, found {first!r}; "
        "pass --date-format (e.g. --date-format %d.%m.%Y)",
        0,
    )


def _separator(match: re.Match[str], style: str) -> str:
    if style == "month":
        return match.group(2)
    if style == "quarter":
        return match.group(2) + match.group(3)
    return "-"


def _parse_one(text: str, pattern: re.Pattern[str], style: str, index: int) -> datetime.date:
    match = pattern.match(text.strip())
    try:
        if match is None:
            raise ValueError
        year = int(match.group(1))
        if style in ("iso", "%Y/%m/%d"):
            return datetime.date(year, int(match.group(2)), int(match.group(3)))
        if style == "month":
            return datetime.date(year, int(match.group(3)), 1)
        if style == "quarter":
            return datetime.date(year, 3 * int(match.group(4)) - 2, 1)
        return datetime.date(year, 1, 1)
    except ValueError:
        example = {"iso": "2020-01-31", "month": "2020-01", "quarter": "2020-Q1", "year": "2020"}
        raise DateError(
            f"expected a date like the first one ({example.get(style, style)}), found {text!r}",
            index,
        ) from None


def _parse_numeric(texts: Sequence[str]) -> tuple[list[datetime.date], str, str]:
    # 01/02/2020 is January 2 in the US and February 1 in most of the world: a value above 12
    # in one position decides; with none, guessing would silently swap months and days.
    parts = []
    for i, text in enumerate(texts):
        match = _NUMERIC.match(text.strip())
        if match is None:
            raise DateError(f"expected a date like {texts[0].strip()!r}, found {text!r}", i)
        parts.append((int(match.group(1)), int(match.group(3)), int(match.group(4))))
    separator = _NUMERIC.match(texts[0].strip()).group(2)  # type: ignore[union-attr]
    day_first = any(a > 12 for a, _, _ in parts)
    month_first = any(b > 12 for _, b, _ in parts)
    if day_first == month_first:
        first = texts[0].strip()
        raise DateError(
            f"cannot tell whether {first!r} is day/month/year or month/day/year; pass "
            f"--date-format %d{separator}%m{separator}%Y or --date-format %m{separator}%d{separator}%Y",
            0,
        )
    style = f"%d{separator}%m{separator}%Y" if day_first else f"%m{separator}%d{separator}%Y"
    out = []
    for i, (a, b, year) in enumerate(parts):
        day, month = (a, b) if day_first else (b, a)
        try:
            out.append(datetime.date(year, month, day))
        except ValueError:
            raise DateError(f"{texts[i]!r} is not a date ({style})", i) from None
    return out, style, separator


def detect_frequency(dates: Sequence[datetime.date], style: str = "iso") -> Frequency:
    """The frequency that steps from each date to the next one exactly.

    Raises:
        DateError: the dates are not evenly spaced; `.index` is the first date off the step.
    """
    if style in _PERIOD_FREQUENCY:
        months = {"month": 1, "quarter": 3, "year": 12}[style]
        frequency = Frequency(_PERIOD_FREQUENCY[style], months=months)
        return _checked(dates, frequency)
    gaps = [(b - a).days for a, b in zip(dates, dates[1:])]
    if len(set(gaps)) == 1 and gaps[0] > 0 and gaps[0] < 28:
        days = gaps[0]
        name = {1: "daily", 7: "weekly"}.get(days, f"every {days} days")
        return Frequency(name, days=days)
    if all(d.weekday() < 5 for d in dates) and all(0 < g <= 3 for g in gaps):
        return _checked(dates, Frequency("business daily", days=1))
    months = _months_between(dates[0], dates[1])
    if months <= 0:
        raise DateError(
            f"{dates[1].isoformat()} does not come after {dates[0].isoformat()}; the dates must "
            "be increasing",
            1,
        )
    ends = all(d.day == calendar.monthrange(d.year, d.month)[1] for d in dates)
    anchor: str | int = "end" if ends else dates[0].day
    name = {1: "monthly", 3: "quarterly", 12: "yearly"}.get(months, f"every {months} months")
    return _checked(dates, Frequency(name, months=months, anchor=anchor))


_PERIOD_FREQUENCY = {"month": "monthly", "quarter": "quarterly", "year": "yearly"}


def _checked(dates: Sequence[datetime.date], frequency: Frequency) -> Frequency:
    for i in range(1, len(dates)):
        expected = frequency.advance(dates[i - 1])
        if dates[i] != expected:
            raise DateError(
                f"the dates are not evenly spaced: {dates[i].isoformat()} follows "
                f"{dates[i - 1].isoformat()}, where {frequency.name} data continues with "
                f"{expected.isoformat()}; fill the gap or drop the date column",
                i,
            )
    return frequency


def _months_between(a: datetime.date, b: datetime.date) -> int:
    return (b.year - a.year) * 12 + b.month - a.month


def _business_days(date: datetime.date, steps: int) -> datetime.date:
    while steps > 0:
        date += datetime.timedelta(days=1)
        if date.weekday() < 5:
            steps -= 1
    return date


def continue_labels(labels: Sequence[str] | None, steps: int) -> list[str] | None:
    """The next `steps` labels after `labels`, or None when they are not regular dates."""
    if not labels or len(labels) < 2:
        return None
    try:
        return DateIndex.parse(list(labels)).future(steps)
    except DateError:
        return None
