"""Analysts' decisions from the workbook: suggested links accepted or rejected, and who
prepared and reviewed each account's statement.

``link_reviews`` keeps every decision (one row per link of the group, never updated); the
latest decision per ``match_id`` is the one in force. Later runs apply it: an accepted
suggestion becomes a confirmed match, a rejected one is not offered again as the same group.
Other parts of recon (the payee memory) may read the accepted rows to learn from them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from recon.carry import SignOff
from recon.store.schema import link_reviews, statement_signoffs

ACCEPTED = "accepted"
REJECTED = "rejected"
DECISIONS = (ACCEPTED, REJECTED)


@dataclass(frozen=True)
class LinkDecision:
    match_id: str
    bank_transaction_id: str
    ledger_entry_id: str
    decision: str  # accepted | rejected
    reviewer: str
    decided_at: datetime
    run_id: str
    as_of: date


def record_link_decisions(connection: Connection, decisions: Iterable[LinkDecision]) -> int:
    rows = [
        {
            "match_id": d.match_id,
            "bank_transaction_id": d.bank_transaction_id,
            "ledger_entry_id": d.ledger_entry_id,
            "decision": d.decision,
            "reviewer": d.reviewer,
            "decided_at": d.decided_at,
            "run_id": d.run_id,
            "as_of": d.as_of,
        }
        for d in decisions
    ]
    if rows:
        connection.execute(insert(link_reviews), rows)
    return len(rows)


def latest_link_decisions(connection: Connection) -> dict[str, LinkDecision]:
    """match_id -> the decision in force (the latest; ties go to the later row)."""
    latest: dict[str, LinkDecision] = {}
    r = link_reviews
    query = select(r).order_by(r.c.decided_at, r.c.review_id)
    for row in connection.execute(query):
        latest[row.match_id] = LinkDecision(
            row.match_id, row.bank_transaction_id, row.ledger_entry_id, row.decision,
            row.reviewer, row.decided_at, row.run_id, row.as_of,
        )  # fmt: skip
    return latest


def save_sign_offs(
    connection: Connection, as_of: date, rows: Mapping[str, SignOff], *, now: datetime
) -> int:
    values = [
        {
            "as_of": as_of,
            "account": account,
            "prepared_by": row.prepared_by,
            "prepared_on": row.prepared_on,
            "reviewed_by": row.reviewed_by,
            "reviewed_on": row.reviewed_on,
            "updated_at": now,
        }
        for account, row in rows.items()
    ]
    if not values:
        return 0
    dialect = connection.dialect.name
    statement = (postgresql.insert(statement_signoffs) if dialect == "postgresql"
                 else sqlite.insert(statement_signoffs))
    upsert = statement.on_conflict_do_update(
        index_elements=["as_of", "account"],
        set_={c: statement.excluded[c] for c in
              ("prepared_by", "prepared_on", "reviewed_by", "reviewed_on", "updated_at")},
    )
    connection.execute(upsert, values)
    return len(values)


def sign_offs_for(
    connection: Connection, as_of: date, accounts: Collection[str]
) -> dict[str, SignOff]:
    """account -> who prepared and reviewed its statement of ``as_of``."""
    s = statement_signoffs
    rows = connection.execute(
        select(s).where(s.c.as_of == as_of, s.c.account.in_(sorted(accounts)))
    )
    return {
        row.account: SignOff(row.prepared_by, row.prepared_on, row.reviewed_by, row.reviewed_on)
        for row in rows
    }
