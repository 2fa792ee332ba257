"""Behaviours translated from established reconciliation tools' own test suites.

Each case in the YAML files beside this module is a small world: bank rows, ledger rows, the
links recon should make (with their status) and the items it should leave open, citing the
repository, file and test it comes from. A case runs through recon's real path: its rows are
written as Plaid transaction JSON and a ledger CSV with the default bankworld company's
config.yaml (whose ``matching:`` section is the repository's), then read back by recon's bank
file reader and ledger loader and matched by the engine.

Case format (amounts are decimal text in the bank account's sign: positive = money in, on both
sides; dates are ISO; ``account`` is op, payroll, eur or jpy and defaults to op)::

    - id: short_name
      source: {repo: owner/name, file: path/in/repo, test: TestClass.test_name}
      behaviour: what the original test asserts, in one or two sentences
      holdout: true                  # optional; hold-out cases live in holdout.yaml
      bank:   [{id, date, amount, name, account?, merchant_name?, counterparty?, reference?,
                check_number?, authorized_date?}]
      ledger: [{id, date, amount, description?, reference?, counterparty?, account?}]
      expect:
        links: [{bank: b1, ledger: l1 | [l1, l2], status: matched | matched_with_difference |
                 suggested | confirmed | any}]        # confirmed = matched or ..._difference
        open:  [{bank?: b1, ledger?: l1, kind: unmatched_bank | ... | any}]
        order_independent: true      # optional: the same links with the rows reversed

No other link than those listed may be made. A listed link with several ledger ids is right
when it goes to any one of them. An open item with both ids is a pair (``amount_mismatch``).
``kind: any`` says only that the row stays open: the original test asserts no kind for it.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ..generator import World, _account_id
from ..profile import DEFAULT
from ..run import run_recon
from ..writer import write_world

CASES_DIR = Path(__file__).resolve().parent
CONFIRMED = {"matched", "matched_with_difference"}
_EXPONENT = {"USD": 2, "EUR": 2, "JPY": 0}
# The cases use the default company's accounts, config and ledger convention; the bank file
# is a plain list of Plaid transactions.
PROFILE = dataclasses.replace(DEFAULT, bank_file="get")


@dataclass(frozen=True)
class Case:
    id: str
    source: dict[str, str]
    behaviour: str
    bank: list[dict[str, Any]]
    ledger: list[dict[str, Any]]
    expect: dict[str, Any]
    holdout: bool
    file: str


@dataclass(frozen=True)
class Outcome:
    case: Case
    passed: bool
    problems: list[str]


def load_cases(*, holdout: bool | None = False) -> list[Case]:
    """The cases; ``holdout`` False: the tuning cases, True: the hold-out ones, None: all."""
    cases = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        for raw in yaml.safe_load(path.read_text(encoding="utf-8")):
            case = Case(raw["id"], raw["source"], " ".join(raw["behaviour"].split()),
                        raw.get("bank", []), raw.get("ledger", []), raw["expect"],
                        bool(raw.get("holdout", False)), path.name)
            if holdout is None or case.holdout == holdout:
                cases.append(case)
    ids = [c.id for c in cases]
    duplicated = {i for i in ids if ids.count(i) > 1}
    if duplicated:
        raise ValueError(f"case ids used twice: {sorted(duplicated)}")
    return cases


def _minor(text: Any, currency: str) -> int:
    value = Decimal(str(text)) * 10 ** _EXPONENT[currency]
    if value != value.to_integral_value():
        raise ValueError(f"amount {text} has too many decimals for {currency}")
    return int(value)


def _world(case: Case, reverse: bool = False) -> World:
    accounts = {a.key: a for a in PROFILE.accounts}
    dates = [date.fromisoformat(str(r[k])) for r in case.bank + case.ledger
             for k in ("date", "authorized_date") if r.get(k)]
    start = min(dates)
    as_of = max(dates)

    def day(value: Any) -> int:
        return (date.fromisoformat(str(value)) - start).days if value else -1

    bank_rows = list(reversed(case.bank)) if reverse else case.bank
    ledger_rows = list(reversed(case.ledger)) if reverse else case.ledger
    bank = pd.DataFrame({
        "transaction_id": pd.Series([r["id"] for r in bank_rows], dtype=object),
        "account_id": pd.Series([_account_id(PROFILE, r.get("account", "op"))
                                 for r in bank_rows], dtype=object),
        "account_key": pd.Series([r.get("account", "op") for r in bank_rows], dtype=object),
        "currency": pd.Series([accounts[r.get("account", "op")].currency for r in bank_rows],
                              dtype=object),
        "date": np.asarray([day(r["date"]) for r in bank_rows], dtype=np.int64),
        "authorized": np.asarray([day(r.get("authorized_date")) for r in bank_rows],
                                 dtype=np.int64),
        "amount_minor": np.asarray([_minor(r["amount"],
                                           accounts[r.get("account", "op")].currency)
                                    for r in bank_rows], dtype=np.int64),
        "name": pd.Series([r["name"] for r in bank_rows], dtype=object),
        "merchant_name": pd.Series([r.get("merchant_name") for r in bank_rows], dtype=object),
        "counterparty": pd.Series([r.get("counterparty") for r in bank_rows], dtype=object),
        "counterparty_type": pd.Series(["merchant"] * len(bank_rows), dtype=object),
        "payment_meta": pd.Series([{"reference_number": r["reference"]}
                                   if r.get("reference") else None for r in bank_rows],
                                  dtype=object),
        "check_number": pd.Series([str(r["check_number"]) if r.get("check_number") else None
                                   for r in bank_rows], dtype=object),
        "pending": np.asarray([bool(r.get("pending", False)) for r in bank_rows], dtype=bool),
        "pending_transaction_id": pd.Series([r.get("pending_transaction_id")
                                             for r in bank_rows], dtype=object),
        "removed": np.zeros(len(bank_rows), dtype=bool),
        "payment_channel": pd.Series(["other"] * len(bank_rows), dtype=object),
        "category": pd.Series([None] * len(bank_rows), dtype=object),
        "city": pd.Series([None] * len(bank_rows), dtype=object),
    })
    ledger = pd.DataFrame({
        "entry_id": pd.Series([r["id"] for r in ledger_rows], dtype=object),
        "date": np.asarray([day(r["date"]) for r in ledger_rows], dtype=np.int64),
        "account": pd.Series([accounts[r.get("account", "op")].ledger_account
                              for r in ledger_rows], dtype=object),
        "currency": pd.Series([accounts[r.get("account", "op")].currency
                               for r in ledger_rows], dtype=object),
        "amount_minor": np.asarray([_minor(r["amount"],
                                           accounts[r.get("account", "op")].currency)
                                    for r in ledger_rows], dtype=np.int64),
        "description": pd.Series([r.get("description", "") for r in ledger_rows], dtype=object),
        "reference": pd.Series([str(r.get("reference", "")) for r in ledger_rows], dtype=object),
        "counterparty": pd.Series([r.get("counterparty", "") for r in ledger_rows],
                                  dtype=object),
    })
    empty = pd.DataFrame(columns=["bank_transaction_id", "ledger_entry_id", "pattern", "family",
                                  "truncated"])
    opens = pd.DataFrame(columns=["bank_transaction_id", "ledger_entry_id", "side", "kind",
                                  "pattern", "family", "twin_of"])
    return World(PROFILE, PROFILE.seed, len(ledger_rows), np.datetime64(start, "D"),
                 np.datetime64(as_of, "D"), bank, ledger, empty, opens,
                 {"bank_rows": len(bank_rows), "ledger_rows": len(ledger_rows)})


def _links(links: pd.DataFrame) -> list[tuple[str, str, str]]:
    return sorted(zip(links["bank_transaction_id"].astype(str),
                      links["ledger_entry_id"].astype(str), links["status"].astype(str),
                      strict=True))


def run_case(case: Case, folder: Path | None = None) -> Outcome:
    """Write the case's files, run recon on them and compare with what the case expects."""
    with tempfile.TemporaryDirectory(prefix=f"case-{case.id}-") as temporary:
        where = folder or Path(temporary)
        write_world(_world(case), where)
        out = run_recon(where)
        problems = check(case, out.result.links, out.result.discrepancies)
        if case.expect.get("order_independent"):
            reversed_dir = where / "reversed"
            write_world(_world(case, reverse=True), reversed_dir)
            if _links(run_recon(reversed_dir).result.links) != _links(out.result.links):
                problems.append("the links change when the rows come in reverse order")
    return Outcome(case, not problems, problems)


def _status_ok(wanted: str, status: str) -> bool:
    if wanted == "any":
        return True
    if wanted == "confirmed":
        return status in CONFIRMED
    return status == wanted


def check(case: Case, links: pd.DataFrame, discrepancies: pd.DataFrame) -> list[str]:
    """Every way recon's result differs from what the case expects (empty: it passes)."""
    problems = []
    made = {(str(b), str(l_)): str(s) for b, l_, s in zip(
        links["bank_transaction_id"], links["ledger_entry_id"], links["status"], strict=True)}
    allowed: set[tuple[str, str]] = set()
    for want in case.expect.get("links", []):
        options = want["ledger"] if isinstance(want["ledger"], list) else [want["ledger"]]
        pairs = [(want["bank"], str(option)) for option in options]
        allowed.update(pairs)
        found = [(pair, made[pair]) for pair in pairs if pair in made]
        if not found:
            problems.append(f"missing link {want['bank']} -> {' or '.join(options)} "
                            f"({want['status']})")
        elif not any(_status_ok(want["status"], status) for _, status in found):
            problems.append(f"link {found[0][0][0]} -> {found[0][0][1]} is {found[0][1]}, "
                            f"expected {want['status']}")
    for (bank, ledger), status in sorted(made.items()):
        if (bank, ledger) not in allowed:
            problems.append(f"unexpected link {bank} -> {ledger} ({status})")
    items = list(zip(discrepancies["kind"].astype(str),
                     discrepancies["bank_transaction_id"].astype(str),
                     discrepancies["ledger_entry_id"].astype(str), strict=True))
    for want in case.expect.get("open", []):
        bank, ledger, kind = want.get("bank", ""), want.get("ledger", ""), want["kind"]
        hit = any((kind in ("any", k)) and (not bank or b == bank) and (not ledger or l_ == ledger)
                  for k, b, l_ in items)
        if not hit:
            where = " and ".join(f"{side} {i}" for side, i in (("bank", bank),
                                                               ("ledger", ledger)) if i)
            shown = [k for k, b, l_ in items if (bank and b == bank) or (ledger and l_ == ledger)]
            problems.append(f"{where} not reported as {kind} (reported: {shown or 'nothing'})")
    return problems
