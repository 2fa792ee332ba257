"""Bank holidays read from the bank feed itself: weekdays on which the bank posted like on a
weekend.

A processor pays Friday's sales on Monday, one business day later; when Monday is a bank
holiday (Presidents' Day) it pays on Tuesday, still one business day later. Counting that
Tuesday as two days makes the right run of sale days look late beside a wrong run that fits
the amount by chance. No holiday list has to be configured: on a bank holiday only what posts
on weekends posts (card purchases, often nothing), so the day's row count falls to a weekend's.
A weekday counts as a holiday when its posted rows are at most halfway between the feed's
median weekend day and its median weekday, in a feed busy enough to tell (a median weekday of
``_BUSY_WEEKDAY`` rows or more, at least twice a weekend day's): in a sparse feed a quiet day
is as likely a slow one, and no day is taken for a holiday.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from recon.engine.normalise import IntArray

_BUSY_WEEKDAY = 40

Days = npt.NDArray[np.datetime64]


def quiet_weekdays(posted: IntArray) -> Days:
    """The holidays (see the module) among the weekdays from the first to the last posted day;
    ``posted`` holds each posted row's day number (days since 1970-01-01)."""
    none = np.zeros(0, dtype="datetime64[D]")
    if len(posted) == 0:
        return none
    first = int(posted.min())
    per_day = np.bincount(posted - first)
    every_day = np.arange(first, first + len(per_day), dtype=np.int64).astype("datetime64[D]")
    weekday = np.is_busday(every_day)
    if not weekday.any() or weekday.all():
        return none
    usual_weekday = float(np.median(per_day[weekday]))
    usual_weekend = float(np.median(per_day[~weekday]))
    if usual_weekday < _BUSY_WEEKDAY or usual_weekday < 2 * usual_weekend:
        return none
    quiet: Days = every_day[weekday & (per_day <= (usual_weekday + usual_weekend) / 2)]
    return quiet
