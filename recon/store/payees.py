"""The payee memory: what confirmed links taught about bank descriptors (recon.engine.payees).

Each night, in the transaction that saves the results, :func:`learn_payees` records every
confirmed one-to-one link of the night (status ``matched`` or ``matched_with_difference``: the
engine's auto-confirmed links and the suggestions an analyst accepted) as one row per bank
transaction: its descriptor and the ledger row's counterparty. A bank transaction the night
reports otherwise (open, suggested, rejected, grouped) loses what it taught before, so a link an
analyst rejects unteaches it. :func:`load_payee_memory` counts the rows per descriptor and
counterparty for the next night's engine. A failed run saves nothing and so learns nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date

import pandas as pd
from sqlalchemy import Connection, delete, func, insert, select

from recon.engine.payees import MAX_DESCRIPTOR_CHARS, PayeeMemory, descriptor_key
from recon.frames import MatchResult
from recon.records import Status
from recon.store.reviews import ACCEPTED, latest_link_decisions
from recon.store.schema import payee_memory

_CONFIRMED = (Status.MATCHED.value, Status.MATCHED_WITH_DIFFERENCE.value)
_BATCH = 500  # ids per DELETE ... IN (...): well under every driver's parameter limit
_COUNTERPARTY_CHARS = 200


def load_payee_memory(connection: Connection) -> PayeeMemory:
    """Every descriptor's learned counterparty (descriptors taught several are left out)."""
    t = payee_memory
    query = select(t.c.descriptor, t.c.counterparty, func.count()).group_by(
        t.c.descriptor, t.c.counterparty
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
    """Replace what the night's bank transactions taught with its confirmed one-to-one links;
    returns how many links taught a payee. The caller owns the transaction."""
    links = result.links
    reported = set(links["bank_transaction_id"].astype(str)) | set(
        result.discrepancies["bank_transaction_id"].astype(str)
    )
    reported.discard("")
    for chunk in _chunks(sorted(reported)):
        connection.execute(
            delete(payee_memory).where(payee_memory.c.bank_transaction_id.in_(chunk))
        )
    members = links.groupby("match_id")["match_id"].transform("size")
    confirmed = links[links["status"].isin(_CONFIRMED) & (members == 1)]
    if confirmed.empty:
        return 0
    descriptions = dict(zip(bank["transaction_id"], bank["description"], strict=True))
    counterparties = dict(zip(ledger["entry_id"], ledger["counterparty"], strict=True))
    accepted = {
        match_id for match_id, decision in latest_link_decisions(connection).items()
        if decision.decision == ACCEPTED
    }  # fmt: skip
    rows = []
    for match_id, bank_id, ledger_id in zip(
        confirmed["match_id"], confirmed["bank_transaction_id"], confirmed["ledger_entry_id"],
        strict=True,
    ):
        descriptor = descriptor_key(str(descriptions.get(bank_id, "") or ""))
        counterparty = " ".join(str(counterparties.get(ledger_id, "") or "").split())
        if not descriptor or not counterparty:
            continue
        rows.append({
            "bank_transaction_id": str(bank_id),
            "descriptor": descriptor[:MAX_DESCRIPTOR_CHARS],
            "counterparty": counterparty[:_COUNTERPARTY_CHARS],
            "ledger_entry_id": str(ledger_id),
            "source": "analyst" if match_id in accepted else "auto",
            "as_of": as_of,
            "run_id": run_id,
        })  # fmt: skip
    if rows:
        connection.execute(insert(payee_memory), rows)
    return len(rows)


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _BATCH):
        yield values[start : start + _BATCH]
