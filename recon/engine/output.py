"""The engine's result frames, built from the match state and the open items.

Columns, their order and their names come from :mod:`recon.records`; rows come in an order that
depends on content only. Rows marked ``partner_only`` in the input (loaded from before the
window only as partners of rows in it) show in a link with a row of the window, never alone:
links and open items made of such rows alone are left out (an earlier night reported them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from recon.engine import explain
from recon.engine.classify import OpenItems
from recon.engine.normalise import ARROW_POOL, BoolArray, IntArray, ObjArray, filled, sort_order
from recon.engine.state import PART_NAMES, MatchState
from recon.frames import MatchResult
from recon.records import (
    ALTERNATIVE_COLUMNS,
    DISCREPANCY_COLUMNS,
    LINK_COLUMNS,
    ItemSide,
)

_EPOCH = dt.date(1970, 1, 1)
ScalarT = TypeVar("ScalarT", bound=np.generic)
# The dtype pandas gives a column of str objects (pyarrow-backed "str" in pandas 3).
_TEXT_DTYPE = pd.Series(np.array([""], dtype=object)).dtype


@dataclass(frozen=True)
class Coded:
    """A text column as a code per row into its few distinct texts."""

    codes: IntArray
    texts: ObjArray

    def __getitem__(self, rows: IntArray) -> Coded:
        return Coded(self.codes[rows], self.texts)


def _texts(columns: Mapping[str, np.ndarray | Coded]) -> dict[str, object]:
    """The columns, those of str objects as the pandas text arrays they would become, each
    made by one pyarrow call (pandas looks at every value first, in Python). A coded column's
    distinct texts are converted once and taken per row."""
    arrow_text = isinstance(_TEXT_DTYPE, pd.StringDtype) and _TEXT_DTYPE.storage == "pyarrow"
    result: dict[str, object] = {}
    for name, values in columns.items():
        if isinstance(values, Coded):
            if arrow_text and len(values.codes):
                texts = pa.array(values.texts, type=pa.large_string())
                taken = pc.take(texts, pa.array(values.codes), memory_pool=ARROW_POOL)
                result[name] = pd.array(taken, dtype=_TEXT_DTYPE)
            else:
                result[name] = values.texts[values.codes]
            continue
        result[name] = values
        if not arrow_text or values.dtype != object:
            continue
        try:
            arrow = pa.array(values, type=pa.large_string(), memory_pool=ARROW_POOL)
        except (pa.ArrowException, TypeError, ValueError):  # not all str: pandas decides
            continue
        if arrow.null_count < len(arrow):  # empty or all None: pandas keeps it object
            result[name] = pd.array(arrow, dtype=_TEXT_DTYPE)
    return result


def match_result(state: MatchState, items: tuple[OpenItems, ...], as_of: dt.date) -> MatchResult:
    links, kept_ids = _links_frame(state)
    return MatchResult(
        links=links,
        discrepancies=_discrepancy_frame(state, items, as_of),
        alternatives=_alternatives_frame(state, kept_ids),
    )


def _links_frame(state: MatchState) -> tuple[pd.DataFrame, set[str] | None]:
    """The links, and the match ids kept (None: all) when some rows are partners only."""
    bank, ledger, batches = state.bank, state.ledger, state.links
    if not batches:
        return _frame({name: np.zeros(0, dtype=object) for name in LINK_COLUMNS}), None

    b, lg = _cat([x.bank for x in batches]), _cat([x.ledger for x in batches])
    match_id, rule = _cat([x.match_id for x in batches]), _cat([x.rule for x in batches])
    difference = _cat([x.amount_difference for x in batches])
    days = bank.date[b] - ledger.date[lg]
    currency = bank.currency[b]
    parts = {name: _cat([x.parts[name] for x in batches]) for name in PART_NAMES}
    notes = _cat([x.notes for x in batches])
    explanation = Coded(*explain.link_explanations(rule, difference, days, currency, parts, notes))
    columns: dict[str, np.ndarray | Coded] = {
        "match_id": match_id,
        "bank_transaction_id": bank.ids[b],
        "ledger_entry_id": ledger.ids[lg],
        "status": _cat([x.status for x in batches]),
        "rule": rule,
        "score": _cat([x.score for x in batches]),
        "amount_difference_minor": difference,
        "date_difference_days": days,
        "account": bank.account[b],
        "currency": currency,
        "explanation": explanation,
    }
    order = sort_order([bank.account_code[b], bank.currency_code[b], b, lg])
    kept_ids = None
    early = bank.partner_only[b] & ledger.partner_only[lg]
    if early.any():
        kept_ids = set(match_id[~early].tolist())
        order = order[_among(match_id[order], kept_ids)]
    return _frame({name: values[order] for name, values in columns.items()}), kept_ids


def _cat(arrays: list[NDArray[ScalarT]]) -> NDArray[ScalarT]:
    joined: NDArray[ScalarT] = np.concatenate(arrays)
    return joined


def _among(values: np.ndarray, kept: set[str]) -> BoolArray:
    among: BoolArray = pd.Series(values, dtype=object).isin(kept).to_numpy()
    return among


def _frame(columns: Mapping[str, np.ndarray | Coded]) -> pd.DataFrame:
    frame = pd.DataFrame(_texts(columns), columns=list(LINK_COLUMNS))
    return frame.astype({
        "score": "float64", "amount_difference_minor": "int64", "date_difference_days": "int64",
    })  # fmt: skip


def _alternatives_frame(state: MatchState, kept_ids: set[str] | None) -> pd.DataFrame:
    batches = state.alternatives
    columns = {name: np.zeros(0, dtype=object) for name in ALTERNATIVE_COLUMNS}
    if batches:
        b, lg = _cat([x.bank for x in batches]), _cat([x.ledger for x in batches])
        match_id = _cat([x.match_id for x in batches])
        winner_bank = _cat([x.winner_bank for x in batches])
        order = sort_order([winner_bank, _cat([x.winner_ledger for x in batches]), b, lg])
        if kept_ids is not None:
            order = order[_among(match_id[order], kept_ids)]
        columns = {
            "match_id": match_id[order],
            "bank_transaction_id": state.bank.ids[b[order]],
            "ledger_entry_id": state.ledger.ids[lg[order]],
            "score": _cat([x.score for x in batches])[order],
        }
    frame = pd.DataFrame(_texts(columns), columns=list(ALTERNATIVE_COLUMNS))
    return frame.astype({"score": "float64"})


def _discrepancy_frame(
    state: MatchState, items: tuple[OpenItems, ...], as_of: dt.date
) -> pd.DataFrame:
    frames = [_discrepancy_columns(state, found, as_of) for found in items]
    frames = [f for f in frames if len(f)]
    frame = (
        pd.concat(frames, ignore_index=True) if frames
        else pd.DataFrame(columns=list(DISCREPANCY_COLUMNS))
    )  # fmt: skip
    frame = frame.astype({"amount_minor": "int64", "age_days": "int64"})
    frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[ns]")
    return _sorted(frame, ["account", "currency", "kind", "date", "discrepancy_id"])


def _discrepancy_columns(state: MatchState, found: OpenItems, as_of: dt.date) -> pd.DataFrame:
    """One row per open item; an amount mismatch is told from its bank row, and its amount is
    what does not reconcile (bank minus ledger)."""
    bank, ledger = state.bank, state.ledger
    keep: BoolArray
    if found.side == ItemSide.BOTH:
        assert found.other_rows is not None
        b, lg = found.rows, found.other_rows
        keep = ~(bank.partner_only[b] & ledger.partner_only[lg])
        side, rows = bank, b
        bank_ids, ledger_ids = bank.ids[b], ledger.ids[lg]
        amount: IntArray = bank.amount[b] - ledger.amount[lg]
    else:
        side = bank if found.side == ItemSide.BANK else ledger
        rows = found.rows
        keep = ~side.partner_only[rows]
        ids, none = side.ids[rows], filled(len(rows), "")
        bank_ids, ledger_ids = (ids, none) if found.side == ItemSide.BANK else (none, ids)
        amount = side.amount[rows]
    at = np.flatnonzero(keep)
    rows, kinds, bank_ids, ledger_ids = rows[at], found.kind[at], bank_ids[at], ledger_ids[at]
    days = side.date[rows]
    discrepancy_ids = [
        explain.discrepancy_id(k, found.side.value, b, x)
        for k, b, x in zip(kinds, bank_ids, ledger_ids, strict=True)
    ]
    columns = {
        "discrepancy_id": np.array(discrepancy_ids, dtype=object),
        "kind": kinds,
        "side": filled(len(rows), found.side.value),
        "bank_transaction_id": bank_ids,
        "ledger_entry_id": ledger_ids,
        "account": side.account[rows],
        "date": days.astype("datetime64[D]").astype("datetime64[ns]"),
        "amount_minor": amount[at],
        "currency": side.currency[rows],
        "age_days": (as_of - _EPOCH).days - days,
        "description": side.description[rows],
        "explanation": found.explanation[at],
        "nearest_candidate": found.nearest_id[at],
    }
    return pd.DataFrame(_texts(columns), columns=list(DISCREPANCY_COLUMNS))


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Sort by ``keys`` (first = most significant) via integer codes: fast for text columns."""
    codes = [pd.factorize(frame[key].to_numpy(), sort=True)[0] for key in reversed(keys)]
    order = np.lexsort(codes) if len(frame) else np.zeros(0, dtype=np.int64)
    return frame.iloc[order].reset_index(drop=True)
