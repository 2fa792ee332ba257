"""The payee memory: what confirmed links taught about bank descriptors (recon.engine.payees).

A history of verdicts per bank transaction. The night of D, in the transaction that saves its
results, :func:`learn_payees` gives each bank transaction it reports a verdict: for a confirmed
one-to-one link (status ``matched`` or ``matched_with_difference``: the engine's auto-confirmed
links and the suggestions an analyst accepted) its descriptor and the ledger row's
counterparty, else nothing (open, suggested, rejected, grouped: a link an analyst rejects
unteaches it). A row is written only where the verdict differs from the latest one before D, so
a link reported night after night is stored once. :func:`load_payee_memory` reads, per bank
transaction, the latest verdict before the night it is for, and counts them per descriptor and
counterparty. A re-run of the night of D replaces that night's rows and reads what the first run
read; a failed run saves nothing and so learns nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import Connection, and_, delete, func, insert, select

from recon.engine.payees import MAX_DESCRIPTOR_CHARS, PayeeMemory, descriptor_key
from recon.frames import MatchResult
from recon.records import Status
from recon.store.reviews import ACCEPTED, latest_link_decisions
from recon.store.schema import payee_memory

_CONFIRMED = (Status.MATCHED.value, Status.MATCHED_WITH_DIFFERENCE.value)
_BATCH = 500  # ids per ... IN (...): well under every driver's parameter limit
_COUNTERPARTY_CHARS = 200

# (descriptor, counterparty, ledger_entry_id), or None: the transaction teaches nothing.
Verdict = tuple[str, str, str] | None


def _latest_before(night: date) -> Any:
    """The latest verdict before ``night`` of each bank transaction (a subquery)."""
    t = payee_memory
    ranked = select(
        t.c.bank_transaction_id, t.c.descriptor, t.c.counterparty, t.c.ledger_entry_id,
        func.row_number().over(
            partition_by=t.c.bank_transaction_id, order_by=t.c.as_of.desc()
        ).label("recency"),
    ).where(t.c.as_of < night).subquery()  # fmt: skip
    return ranked


def load_payee_memory(connection: Connection, *, before: date) -> PayeeMemory:
    """What the nights before ``before`` taught: each descriptor's counterparty (descriptors
    taught several are left out)."""
    latest = _latest_before(before)
    query = (
        select(latest.c.descriptor, latest.c.counterparty, func.count())
        .where(latest.c.recency == 1, latest.c.counterparty.is_not(None))
        .group_by(latest.c.descriptor, latest.c.counterparty)
    )
    return PayeeMemory.from_links(
        (str(d), str(c), int(n)) for d, c, n in connection.execute(query)
    )


def learn_payees(
    connection: Connection,
    *,
    run_id: str,
    as_of: date,
    result: MatchResult,
    bank: pd.DataFrame,
    ledger: pd.DataFrame,
) -> int:
    """Record the verdicts of the night of ``as_of`` on the bank transactions it reports;
    returns how many of them teach a payee. The caller owns the transaction."""
    reported = sorted(
        (set(result.links["bank_transaction_id"].astype(str))
         | set(result.discrepancies["bank_transaction_id"].astype(str))) - {""}
    )  # fmt: skip
    t = payee_memory
    for chunk in _chunks(reported):  # a re-run of the night replaces its rows
        connection.execute(delete(t).where(and_(t.c.as_of == as_of,
                                                t.c.bank_transaction_id.in_(chunk))))
    verdicts, sources = _verdicts(connection, result, bank, ledger)
    latest = _latest_before(as_of)
    previous: dict[str, Verdict] = {}
    for chunk in _chunks(reported):
        query = select(
            latest.c.bank_transaction_id, latest.c.descriptor, latest.c.counterparty,
            latest.c.ledger_entry_id,
        ).where(latest.c.recency == 1, latest.c.bank_transaction_id.in_(chunk))  # fmt: skip
        for bank_id, descriptor, counterparty, ledger_id in connection.execute(query):
            previous[bank_id] = (
                None if counterparty is None else (descriptor, counterparty, ledger_id)
            )
    rows = []
    for bank_id in reported:
        verdict = verdicts.get(bank_id)
        if verdict == previous.get(bank_id):
            continue
        descriptor, counterparty, ledger_id = verdict or (None, None, None)
        rows.append({
            "bank_transaction_id": bank_id, "as_of": as_of, "descriptor": descriptor,
            "counterparty": counterparty, "ledger_entry_id": ledger_id,
            "source": sources.get(bank_id), "run_id": run_id,
        })  # fmt: skip
    if rows:
        connection.execute(insert(t), rows)
    return len(verdicts)


def _verdicts(
    connection: Connection, result: MatchResult, bank: pd.DataFrame, ledger: pd.DataFrame
) -> tuple[dict[str, Verdict], dict[str, str]]:
    """bank transaction id -> what its confirmed one-to-one link teaches, and who confirmed
    it (auto | analyst)."""
    links = result.links
    members = links.groupby("match_id")["match_id"].transform("size")
    confirmed = links[links["status"].isin(_CONFIRMED) & (members == 1)]
    if confirmed.empty:
        return {}, {}
    descriptions = dict(zip(bank["transaction_id"], bank["description"], strict=True))
    counterparties = dict(zip(ledger["entry_id"], ledger["counterparty"], strict=True))
    accepted = {
        match_id for match_id, decision in latest_link_decisions(connection).items()
        if decision.decision == ACCEPTED
    }  # fmt: skip
    verdicts: dict[str, Verdict] = {}
    sources: dict[str, str] = {}
    for match_id, bank_id, ledger_id in zip(
        confirmed["match_id"], confirmed["bank_transaction_id"], confirmed["ledger_entry_id"],
        strict=True,
    ):
        descriptor = descriptor_key(str(descriptions.get(bank_id, "") or ""))
        counterparty = " ".join(str(counterparties.get(ledger_id, "") or "").split())
        if descriptor and counterparty:
            verdicts[str(bank_id)] = (
                descriptor[:MAX_DESCRIPTOR_CHARS], counterparty[:_COUNTERPARTY_CHARS],
                str(ledger_id),
            )  # fmt: skip
            sources[str(bank_id)] = "analyst" if match_id in accepted else "auto"
    return verdicts, sources


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _BATCH):
        yield values[start : start + _BATCH]
