"""The rows cut into (ledger account, currency) partitions, and the partitions' results merged.

Matching never crosses a ledger account or a currency (every pass blocks on both unless a rule
says ``same_account: false`` / ``same_currency: false``), so the rows of one (account, currency)
are a reconciliation of their own. The engine reconciles each partition on its own, learning
nothing from the others (references, completed words, search budgets are all per partition):
so a partition's result is the same whether it is reconciled with the others in one process
(:func:`recon.engine.reconcile`) or alone on another machine (:mod:`recon.execution`). A
partition is never cut by date: a pass window could cross the cut.

:func:`cut` gives each partition's rows in id order (the same rows give the same partition
whatever order they were loaded in); :func:`merge` puts the partitions' results one after the
other in key order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from recon.config import MatchingConfig
from recon.frames import MatchResult

# A partition's key: (ledger account, currency); "" where a rule crosses it.
PartitionKey = tuple[str, str]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Partition:
    """One partition's rows of the frames it was cut from; :attr:`bank` and :attr:`ledger` are
    made when asked for (a copy each time), so a caller taking one partition after another
    holds one partition's copy at a time."""

    key: PartitionKey
    _bank: pd.DataFrame
    _ledger: pd.DataFrame
    _bank_rows: IntArray | None  # positions in _bank; None: all its rows as they are
    _ledger_rows: IntArray | None

    @property
    def name(self) -> str:
        account, currency = self.key
        return f"{account or '*'}/{currency or '*'}"

    @property
    def bank(self) -> pd.DataFrame:
        return _rows(self._bank, self._bank_rows)

    @property
    def ledger(self) -> pd.DataFrame:
        return _rows(self._ledger, self._ledger_rows)


def _rows(frame: pd.DataFrame, positions: IntArray | None) -> pd.DataFrame:
    return frame if positions is None else frame.iloc[positions].reset_index(drop=True)


def rules_cross(matching: MatchingConfig) -> tuple[bool, bool]:
    """(a rule links across accounts, a rule links across currencies)."""
    accounts = any(getattr(p, "same_account", True) is False for p in matching.passes)
    currencies = any(getattr(p, "same_currency", True) is False for p in matching.passes)
    return accounts, currencies


# A column as (code per row, its spellings in sorted order).
Coded = tuple[IntArray, list[str]]


def _keys(frame: pd.DataFrame, matching: MatchingConfig) -> tuple[Coded, Coded]:
    """Each row's partition key, spelled as the engine spells its blocks (the account as text,
    the currency stripped and in upper case): (accounts, currencies), each as codes into its
    spellings in sorted order. The spelling is made once per distinct value, not per row."""
    cross_accounts, cross_currencies = rules_cross(matching)
    nothing = (np.zeros(len(frame), dtype=np.int64), [""])
    account = nothing if cross_accounts else _spelled(frame["account"], lambda texts: texts)
    currency = (
        nothing if cross_currencies
        else _spelled(frame["currency"], lambda texts: texts.str.strip().str.upper())
    )  # fmt: skip
    return account, currency


def _spelled(column: pd.Series, spell: Callable[[pd.Series], pd.Series]) -> Coded:
    """``pd.factorize(spell(column.fillna("").astype(str)), sort=True)``, with ``spell``
    applied to the column's distinct values only."""
    codes, uniques = pd.factorize(column)
    # Each distinct value, then "" for code -1 (a missing value): index -1 picks it.
    texts = spell(pd.Series([*uniques, ""], dtype=object).astype(str)).to_numpy(dtype=object)
    text_code, names = pd.factorize(texts, sort=True)
    row_code = text_code[codes]
    # Only the spellings some row has (the trailing "" may be none's).
    present = np.bincount(row_code, minlength=len(names)) > 0
    renumbered = np.cumsum(present) - 1
    return renumbered[row_code].astype(np.int64), [str(n) for n in names[present]]


def cut(
    bank: pd.DataFrame, ledger: pd.DataFrame, matching: MatchingConfig, *, id_order: bool = True
) -> list[Partition]:
    """One partition per (account, currency) found on either side, in key order, each side's
    rows in id order (``id_order``: the same rows make the same partition bytes whatever order
    they were loaded in), else in the order given (the engine does not depend on row order; a
    side all of one partition is then passed on as it is)."""
    bank_groups = _groups(bank, _keys(bank, matching), "transaction_id" if id_order else None)
    ledger_groups = _groups(ledger, _keys(ledger, matching), "entry_id" if id_order else None)
    none = np.zeros(0, dtype=np.int64)
    return [
        Partition(key, bank, ledger, bank_groups.get(key, none), ledger_groups.get(key, none))
        for key in sorted(set(bank_groups) | set(ledger_groups))
    ]


def _groups(
    frame: pd.DataFrame, keys: tuple[Coded, Coded], id_column: str | None
) -> dict[PartitionKey, IntArray | None]:
    """The positions of each key's rows, in ``id_column`` order or else as given (None: all
    rows, as given); codes, not Python loops over a million rows."""
    if frame.empty:
        return {}
    (account_code, accounts), (currency_code, currencies) = keys
    group = account_code * len(currencies) + currency_code
    if id_column is None:
        if len(accounts) * len(currencies) == 1:
            return {(str(accounts[0]), str(currencies[0])): None}
        order = np.argsort(group, kind="stable")
    else:
        ids = pa.array(frame[id_column].astype(str).to_numpy(dtype=object), type=pa.string())
        order = pc.sort_indices(
            pa.table({"group": group, "id": ids}),
            sort_keys=[("group", "ascending"), ("id", "ascending")],
        ).to_numpy()
    grouped = group[order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    ends = np.r_[starts[1:], len(grouped)]
    width = len(currencies)
    return {
        (str(accounts[grouped[a] // width]), str(currencies[grouped[a] % width])): order[a:b]
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True)
    }  # fmt: skip


def merge(results: list[tuple[PartitionKey, MatchResult]]) -> MatchResult:
    """The partitions' results one after the other in key order. Links and open items are
    ordered by account and currency first, so this is their order over all rows; where a rule
    crosses accounts (key ("", currency)), open items are sorted again as the engine sorts them."""
    ordered = sorted(results, key=lambda r: r[0])
    frames = [result for _, result in ordered]
    discrepancies = _concat([f.discrepancies for f in frames])
    if len(ordered) > 1 and any("" in key for key, _ in ordered):
        discrepancies = _sorted(discrepancies, ["account", "currency", "kind", "date",
                                                "discrepancy_id"])
    return MatchResult(links=_concat([f.links for f in frames]), discrepancies=discrepancies,
                       alternatives=_concat([f.alternatives for f in frames]))


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The frames one after the other; empty ones left out (their columns may have another
    dtype than filled ones)."""
    filled = [f for f in frames if len(f)]
    if not filled:
        return frames[0]
    if len(filled) == 1:
        return filled[0]
    return pd.concat(filled, ignore_index=True)


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Sorted by ``keys`` (first = most significant), as the engine sorts its open items."""
    if not len(frame):
        return frame
    codes = [pd.factorize(frame[key].to_numpy(), sort=True)[0] for key in reversed(keys)]
    return frame.iloc[np.lexsort(codes)].reset_index(drop=True)
