"""The search of the partial payments pass (``kind: partial_payments``) over a payer's rows.

A ledger row's pool is every open bank row naming its reference or its counterparty within
its window. Only rows of the ledger row's sign and smaller than it can be parts. Two parts
are found by a join over the whole pool (each row's complement looked up among the others:
O(pool) per ledger row), so a busy payer with dozens of rows in the window still has its
invoice paid in two parts found; subsets of three or more parts are searched among the
``2 * max_parts`` rows nearest the ledger date (every subset sum of a small pool).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recon.engine.normalise import IntArray
from recon.engine.state import MatchState


def possible_parts(state: MatchState, t: IntArray, b: IntArray) -> tuple[IntArray, IntArray]:
    """The (ledger row, bank row) pairs whose bank row can be a part of the ledger row: the
    same sign, and less than all of it."""
    bank_amount, owed = state.bank.amount[b], state.ledger.amount[t]
    keep = (np.sign(bank_amount) == np.sign(owed)) & (np.abs(bank_amount) < np.abs(owed))
    return t[keep], b[keep]


def nearest(state: MatchState, t: IntArray, b: IntArray, size: int) -> tuple[IntArray, IntArray]:
    """Per ledger row, its ``size`` bank rows nearest in date (then in position)."""
    if len(t) == 0:
        return t, b
    distance = np.abs(state.bank.date[b] - state.ledger.date[t])
    order = np.lexsort((b, distance, t))
    t, b = t[order], b[order]
    starts = np.flatnonzero(np.r_[True, t[1:] != t[:-1]])
    rank = np.arange(len(t)) - np.repeat(starts, np.diff(np.r_[starts, len(t)]))
    keep = rank < size
    return t[keep], b[keep]


def two_part_fits(state: MatchState, t: IntArray, b: IntArray) -> tuple[IntArray, IntArray,
                                                                        IntArray]:
    """(ledger row, first bank row, second bank row) for every two rows of a ledger row's pool
    (``t``, ``b``: unique pairs) that sum to it exactly, the first row the lower position."""
    empty = np.zeros(0, dtype=np.int64)
    if len(t) == 0:
        return empty, empty, empty
    amount = state.bank.amount[b]
    pool = pd.DataFrame({"t": t, "b": b, "amount": amount})
    wanted = pd.DataFrame({"t": t, "first": b, "amount": state.ledger.amount[t] - amount})
    fits = wanted.merge(pool, on=["t", "amount"])
    fits = fits[fits["first"].to_numpy() < fits["b"].to_numpy()]
    return (fits["t"].to_numpy(dtype=np.int64), fits["first"].to_numpy(dtype=np.int64),
            fits["b"].to_numpy(dtype=np.int64))  # fmt: skip
