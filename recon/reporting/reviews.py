"""Analysts' decisions on suggested links, applied to a night's result before it is saved.

An accepted suggestion becomes a confirmed match (status ``matched``, its explanation says who
accepted it and when). A rejected one is taken apart: its bank and ledger rows become open
items again, saying the link was rejected, and the same group is never offered again as it
was. A decision applies to the group it was made on (its ``match_id`` comes from its members):
if the engine suggests a different group later, that one needs its own decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import pandas as pd

from recon.engine.explain import discrepancy_id
from recon.frames import PARTNER_ONLY, MatchResult
from recon.records import DISCREPANCY_COLUMNS, ItemSide, Kind, Status
from recon.store.reviews import ACCEPTED, REJECTED, LinkDecision


def apply_link_decisions(
    result: MatchResult,
    decisions: Mapping[str, LinkDecision],
    bank: pd.DataFrame,
    ledger: pd.DataFrame,
    as_of: date,
) -> MatchResult:
    links = result.links
    if not decisions or links.empty:
        return result
    suggested = links["status"] == Status.SUGGESTED
    decided = links["match_id"].map(lambda m: d.decision if (d := decisions.get(m)) else "")
    accepted = suggested & (decided == ACCEPTED)
    rejected = suggested & (decided == REJECTED)
    if not accepted.any() and not rejected.any():
        return result
    links = links.copy()
    links.loc[accepted, "status"] = Status.MATCHED
    links.loc[accepted, "explanation"] = [
        f"{text}; accepted by {decisions[m].reviewer} on {decisions[m].decided_at:%Y-%m-%d}"
        for m, text in zip(links.loc[accepted, "match_id"], links.loc[accepted, "explanation"],
                           strict=True)
    ]
    dropped = links[rejected]
    links = links[~rejected].reset_index(drop=True)
    why = {m: f"suggested link rejected by {d.reviewer} on {d.decided_at:%Y-%m-%d}"
           for m, d in decisions.items()}
    opened = [
        *_open_items(dropped, bank, "bank_transaction_id", "transaction_id", Kind.UNMATCHED_BANK,
                     ItemSide.BANK, why, as_of),
        *_open_items(dropped, ledger, "ledger_entry_id", "entry_id", Kind.UNMATCHED_LEDGER,
                     ItemSide.LEDGER, why, as_of),
    ]  # fmt: skip
    found = result.discrepancies
    if opened:
        found = pd.concat([found, pd.DataFrame(opened, columns=list(DISCREPANCY_COLUMNS))],
                          ignore_index=True)
    alternatives = result.alternatives
    alternatives = alternatives[~alternatives["match_id"].isin(set(dropped["match_id"]))]
    return MatchResult(links=links, discrepancies=found,
                       alternatives=alternatives.reset_index(drop=True))


def _open_items(
    dropped: pd.DataFrame, rows: pd.DataFrame, link_column: str, id_column: str, kind: Kind,
    side: ItemSide, why: Mapping[str, str], as_of: date,
) -> list[dict[str, object]]:  # fmt: skip
    pairs = dropped[[link_column, "match_id"]].drop_duplicates(link_column)
    pairs = pairs[pairs[link_column].astype(str) != ""]
    source = rows.drop_duplicates(id_column).set_index(id_column)
    opened = []
    for row_id, match_id in pairs.itertuples(index=False, name=None):
        if row_id not in source.index:
            continue
        row = source.loc[row_id]
        if bool(row.get(PARTNER_ONLY, False)):
            continue  # a row from before the window: an earlier night reported it
        day = pd.Timestamp(row["date"])
        bank_id, ledger_id = (row_id, "") if side == ItemSide.BANK else ("", row_id)
        opened.append({
            "discrepancy_id": discrepancy_id(kind, side, bank_id, ledger_id),
            "kind": kind.value, "side": side.value, "bank_transaction_id": bank_id,
            "ledger_entry_id": ledger_id, "account": row["account"], "date": day,
            "amount_minor": int(row["amount_minor"]), "currency": row["currency"],
            "age_days": (as_of - day.date()).days, "description": row["description"],
            "explanation": why[match_id], "nearest_candidate": "",
        })  # fmt: skip
    return opened
