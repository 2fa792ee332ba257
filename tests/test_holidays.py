"""Bank holidays read from the feed (recon.engine.holidays)."""

from __future__ import annotations

import numpy as np

from recon.engine.holidays import quiet_weekdays


def day_numbers(per_day: dict[str, int]) -> np.ndarray:
    """One entry (a posted row's day number) per row: ``per_day`` rows on each day."""
    return np.concatenate([
        np.full(count, np.datetime64(day, "D").astype(np.int64), dtype=np.int64)
        for day, count in per_day.items()
    ])  # fmt: skip


def busy_feed(holiday_rows: int) -> dict[str, int]:
    """Two weeks of February 2026: 60 rows a weekday, 20 a weekend day; Monday the 16th (a
    bank holiday: Presidents' Day) gets ``holiday_rows``."""
    days = np.arange(np.datetime64("2026-02-09"), np.datetime64("2026-02-21"))
    counts = {str(d): (60 if np.is_busday(d) else 20) for d in days}
    counts["2026-02-16"] = holiday_rows
    return counts


def test_a_weekday_posting_like_a_weekend_is_a_holiday() -> None:
    quiet = quiet_weekdays(day_numbers(busy_feed(18)))  # card purchases post on holidays too
    assert quiet.tolist() == [np.datetime64("2026-02-16", "D").item()]


def test_a_weekday_without_any_row_is_a_holiday_in_a_feed_posting_nothing_on_weekends() -> None:
    counts = {d: n for d, n in busy_feed(0).items() if n != 20}
    assert [str(d) for d in quiet_weekdays(day_numbers(counts))] == ["2026-02-16"]


def test_an_ordinary_weekday_is_no_holiday() -> None:
    assert len(quiet_weekdays(day_numbers(busy_feed(55)))) == 0


def test_a_sparse_feed_has_no_holidays() -> None:
    # Three rows a weekday: a day without rows is as likely a slow day.
    counts = {d: (3 if n == 60 else 0) for d, n in busy_feed(0).items()}
    counts["2026-02-16"] = 0
    assert len(quiet_weekdays(day_numbers(counts))) == 0


def test_a_feed_as_busy_on_weekends_as_on_weekdays_has_no_holidays() -> None:
    counts = dict.fromkeys(busy_feed(0), 60)
    counts["2026-02-16"] = 30
    assert len(quiet_weekdays(day_numbers(counts))) == 0
