"""The scenarios of the synthetic data: the bulk (one bank row per ledger entry) and the hard
cases (payouts, splits, fees, typos, duplicates, pending rows, reversals, one-sided items, payroll
runs, subscription sets), drawn from one seeded generator, and the demo's accounts and data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from recon.frames import BANK_COLUMNS, LEDGER_COLUMNS
from recon.money import currency_exponent
from recon.synth.names import (
    BANK_CUSTOMER,
    BANK_ONLY,
    BANK_VENDOR,
    CUSTOMERS,
    FIRST_NAMES,
    LAST_NAMES,
    MERCHANTS,
    PROCESSORS,
    SUBSCRIPTIONS,
    VENDORS,
)

TRUTH_COLUMNS: Final = ("bank_transaction_id", "ledger_entry_id", "scenario", "group_id")
SCENARIOS: Final = (
    "exact", "reference", "decoy", "payout", "split", "fee", "mismatch", "duplicate", "pending",
    "reversal", "unmatched_bank", "unmatched_ledger", "date_lag", "mangled_text",
)  # fmt: skip
MAX_WIRE_FEE_UNITS: Final = 25  # a wire fee never exceeds 25.00 in the account's currency

Int64Array = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class SynthAccount:
    plaid_account_id: str
    ledger_account: str
    currency: str
    name: str


@dataclass(frozen=True)
class SynthData:
    bank: pd.DataFrame  # BANK_COLUMNS
    ledger: pd.DataFrame  # LEDGER_COLUMNS
    truth: pd.DataFrame  # TRUTH_COLUMNS


def demo_accounts() -> tuple[SynthAccount, ...]:
    """The three accounts of config.yaml's ``accounts:`` section."""
    return (
        SynthAccount(
            "dVzbVMLjrxTnLjX4G66XUp5GLklm4oiZy88yK",
            "1010-operating-usd",
            "USD",
            "First Platypus Bank - Operating",
        ),
        SynthAccount(
            "9vLqmWE3aNT6pbe4Kxrj8GzYw1oXM5cQnRdJk",
            "1020-payroll-usd",
            "USD",
            "First Platypus Bank - Payroll",
        ),
        SynthAccount(
            "Qm7rN2kXp4LwZ8vB3cJt6yHs9dFg1aEuRo5iT",
            "1030-tokyo-jpy",
            "JPY",
            "Tartan Bank - Tokyo branch",
        ),
    )


PlaidItem = tuple[str, str, str, Sequence[str]]

# The demo accounts' balances before their first generated day, in minor units: the bank's
# and the books' alike (they agreed then). config.yaml's statement.opening_balances holds the
# same figures, so the demo's reconciliation statements tie out.
DEMO_OPENING_MINOR: Final[Mapping[str, int]] = {
    "1010-operating-usd": 25_000_000,
    "1020-payroll-usd": 18_000_000,
    "1030-tokyo-jpy": 25_000_000,
}


def demo_items() -> tuple[PlaidItem, ...]:
    """(item_id, institution_id, institution_name, plaid_account_ids) of the two demo items."""
    operating, payroll, tokyo = (a.plaid_account_id for a in demo_accounts())
    return (
        (
            "eVBnVMp7zdTJLkRNr33Rs6zr7KNJqBFLwZcVx",
            "ins_109508",
            "First Platypus Bank",
            (operating, payroll),
        ),
        ("Kp4wQz8XmN2rT6yLc9vB1sJd7hGf3aEk5oUiR", "ins_109511", "Tartan Bank", (tokyo,)),
    )


def demo_dataset(as_of: date, seed: int = 7) -> SynthData:
    """About 2,000 ledger rows over the 35 days up to ``as_of``, every scenario present."""
    return generate(
        demo_accounts(), start=as_of - timedelta(days=34), end=as_of, seed=seed, ledger_rows=2000
    )


# --- amounts and codes ----------------------------------------------------------------------------

# minor units per US cent, as an exact fraction (num, den), for plausible amounts per currency
_PER_US_CENT: Final[dict[str, tuple[int, int]]] = {
    "USD": (1, 1), "EUR": (92, 100), "GBP": (79, 100), "CAD": (136, 100), "AUD": (152, 100),
    "CHF": (88, 100), "JPY": (3, 2), "KRW": (136, 10), "KWD": (31, 10),
}  # fmt: skip

_UPPER_ALNUM = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", dtype=np.uint8)
_ALNUM = np.frombuffer(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", dtype=np.uint8
)
_LAGS: Final = np.array([-1, 0, 1, 2, 3, 4])
_LAG_WEIGHTS: Final = np.array([0.07, 0.45, 0.25, 0.12, 0.07, 0.04])


def _random_strings(
    rng: np.random.Generator, count: int, length: int, alphabet: npt.NDArray[np.uint8]
) -> list[str]:
    if count == 0:
        return []
    draws = rng.integers(0, len(alphabet), size=(count, length), dtype=np.uint8)
    text = alphabet[draws].tobytes().decode("ascii")
    return [text[i : i + length] for i in range(0, count * length, length)]


def _codes(rng: np.random.Generator, count: int, length: int = 6) -> list[str]:
    return _random_strings(rng, count, length, _UPPER_ALNUM)


def scale(usd_cents: Int64Array, currency: str) -> Int64Array:
    """Random US-cent amounts as plausible minor units of ``currency`` (integer arithmetic)."""
    exponent = currency_exponent(currency)
    num, den = _PER_US_CENT.get(currency, (10**exponent, 100))
    scaled = (usd_cents * num + np.sign(usd_cents) * (den // 2)) // den
    # Never let an amount round to zero: a zero-amount transaction is not a scenario.
    return np.where(scaled == 0, np.sign(usd_cents), scaled).astype(np.int64)


def _scale_per_account(
    usd_cents: Int64Array, account_idx: Int64Array, currencies: Sequence[str]
) -> Int64Array:
    out = np.empty_like(usd_cents)
    for index, currency in enumerate(currencies):
        mask = account_idx == index
        if mask.any():
            out[mask] = scale(usd_cents[mask], currency)
    return out


def _lognormal_cents(
    rng: np.random.Generator, count: int, median_cents: float, sigma: float, low: int, high: int
) -> Int64Array:
    drawn = rng.lognormal(np.log(median_cents), sigma, count)
    return np.clip(np.rint(drawn), low, high).astype(np.int64)


# --- accumulation ---------------------------------------------------------------------------------

_BANK_NUMERIC = ("acct", "amount", "day", "auth_day", "pending", "pending_of")
_BANK_TEXT = ("description", "counterparty", "reference")
_LEDGER_NUMERIC = ("acct", "amount", "day")
_LEDGER_TEXT = ("description", "reference", "counterparty")


class _Side:
    """Columns of one side, appended per scenario and concatenated once."""

    def __init__(self, numeric: tuple[str, ...], text: tuple[str, ...]) -> None:
        self.numeric: dict[str, list[npt.NDArray[Any]]] = {name: [] for name in numeric}
        self.text: dict[str, list[str]] = {name: [] for name in text}
        self.size = 0

    def add(self, count: int, **values: Any) -> Int64Array:
        for name, parts in self.numeric.items():
            array = np.asarray(values[name])
            parts.append(np.broadcast_to(array, (count,)) if array.ndim == 0 else array)
            if len(parts[-1]) != count:
                raise ValueError(f"column {name}: {len(parts[-1])} values for {count} rows")
        for name, column in self.text.items():
            value = values[name]
            if isinstance(value, str):
                column.extend([value] * count)
            else:
                if len(value) != count:
                    raise ValueError(f"column {name}: {len(value)} values for {count} rows")
                column.extend(value)
        start = self.size
        self.size += count
        return np.arange(start, self.size, dtype=np.int64)

    def column(self, name: str) -> npt.NDArray[Any]:
        parts = self.numeric[name]
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


class _Truth:
    def __init__(self) -> None:
        self.bank: list[Int64Array] = []
        self.ledger: list[Int64Array] = []
        self.scenario: list[str] = []
        self.group: list[Int64Array] = []
        self.groups = 0

    def new_groups(self, count: int) -> Int64Array:
        first = self.groups
        self.groups += count
        return np.arange(first, self.groups, dtype=np.int64)

    def add(self, bank: Any, ledger: Any, scenario: str | Sequence[str], group: Any) -> None:
        bank_idx = np.asarray(bank, dtype=np.int64)
        ledger_idx = np.asarray(ledger, dtype=np.int64)
        group_idx = np.asarray(group, dtype=np.int64)
        count = max(bank_idx.size, ledger_idx.size, group_idx.size)
        self.bank.append(np.broadcast_to(bank_idx, (count,)))
        self.ledger.append(np.broadcast_to(ledger_idx, (count,)))
        self.group.append(np.broadcast_to(group_idx, (count,)))
        if isinstance(scenario, str):
            self.scenario.extend([scenario] * count)
        else:
            self.scenario.extend(scenario)


@dataclass
class _Context:
    rng: np.random.Generator
    accounts: Sequence[SynthAccount]
    n_days: int
    bank: _Side
    ledger: _Side
    truth: _Truth
    start: date
    next_invoice: int = 20000

    def invoice_numbers(self, count: int, prefix: str = "INV") -> list[str]:
        """Unique within one dataset, like a real invoice sequence."""
        first = self.next_invoice
        self.next_invoice += count
        return [f"{prefix}-{first + i}" for i in range(count)]

    @property
    def currencies(self) -> list[str]:
        return [a.currency for a in self.accounts]

    def pick_accounts(self, count: int, eligible: Sequence[int] | None = None) -> Int64Array:
        choices = np.asarray(eligible if eligible else range(len(self.accounts)), dtype=np.int64)
        return choices[self.rng.integers(0, len(choices), count)]

    def money(self, usd_cents: Int64Array, acct: Int64Array) -> Int64Array:
        return _scale_per_account(usd_cents, acct, self.currencies)

    def days(self, count: int, low: int = 0, high_margin: int = 0) -> Int64Array:
        low = min(low, self.n_days - 1)
        high = max(low + 1, self.n_days - high_margin)
        # Sorted (rows are i.i.d. otherwise): the final sort by date is then a cheap merge.
        return np.sort(self.rng.integers(low, high, count)).astype(np.int64)

    def lagged(self, ledger_day: Int64Array, lags: Int64Array) -> Int64Array:
        return np.asarray(np.clip(ledger_day + lags, 0, self.n_days - 1), dtype=np.int64)

    def draw_lags(self, count: int) -> Int64Array:
        return self.rng.choice(_LAGS, size=count, p=_LAG_WEIGHTS).astype(np.int64)


def _no_pending(count: int) -> dict[str, Any]:
    return {"pending": np.zeros(count, dtype=np.bool_), "pending_of": np.int64(-1)}


def _lag_scenario(lag: Int64Array, clean: BoolArray, clean_name: str) -> list[str]:
    """Label 1:1 pairs: a lag outside 0..2 days is date_lag, else clean or mangled text."""
    out = np.where((lag < 0) | (lag > 2), "date_lag", np.where(clean, clean_name, "mangled_text"))
    return [str(s) for s in out.tolist()]


# --- the bulk: one bank row per ledger entry ------------------------------------------------------


def _bulk_cards(ctx: _Context, count: int) -> None:
    rng = ctx.rng
    acct = ctx.pick_accounts(count)
    merchant = rng.integers(0, len(MERCHANTS), count)
    amount = -ctx.money(_lognormal_cents(rng, count, 4500, 0.9, 150, 900_000), acct)
    ledger_day = ctx.days(count)
    bank_day = ctx.lagged(ledger_day, ctx.draw_lags(count))
    has_merchant = rng.random(count) < 0.6
    codes = _codes(rng, count)
    nums = rng.integers(1000, 10000, count).tolist()
    merchant_list = merchant.tolist()
    descriptions = [
        MERCHANTS[m][1].format(code=c, num=n)
        for m, c, n in zip(merchant_list, codes, nums, strict=True)
    ]
    counterparty = [
        MERCHANTS[m][2] if h else ""
        for m, h in zip(merchant_list, has_merchant.tolist(), strict=True)
    ]
    names = [MERCHANTS[m][0] for m in merchant_list]
    ledger_idx = ctx.ledger.add(
        count,
        acct=acct,
        amount=amount,
        day=ledger_day,
        description=names,
        reference="",
        counterparty=names,
    )
    bank_idx = ctx.bank.add(
        count,
        acct=acct,
        amount=amount,
        day=bank_day,
        auth_day=np.minimum(ledger_day, bank_day),
        description=descriptions,
        counterparty=counterparty,
        reference="",
        **_no_pending(count),
    )
    scenario = _lag_scenario(bank_day - ledger_day, has_merchant, "exact")
    ctx.truth.add(bank_idx, ledger_idx, scenario, ctx.truth.new_groups(count))


def _bulk_receipts(ctx: _Context, count: int) -> None:
    rng = ctx.rng
    acct = ctx.pick_accounts(count)
    customer = rng.integers(0, len(CUSTOMERS), count).tolist()
    amount = ctx.money(_lognormal_cents(rng, count, 250_000, 0.8, 5_000, 50_000_000), acct)
    ledger_day = ctx.days(count)
    bank_day = ctx.lagged(ledger_day, ctx.draw_lags(count))
    invoices = ctx.invoice_numbers(count)
    # 45 %: the invoice number in the bank text, 20 %: in payment_meta, 35 %: nowhere
    mode = rng.choice(3, size=count, p=[0.45, 0.2, 0.35]).tolist()
    cp_known = (rng.random(count) < 0.3).tolist()
    names = [CUSTOMERS[c] for c in customer]
    bank_names = [BANK_CUSTOMER[c] for c in customer]
    descriptions = [
        f"ACH CREDIT {b} {inv}"
        if m == 0
        else (f"ACH CREDIT {b} PAYMENT" if m == 1 else f"DEPOSIT {b}")
        for b, inv, m in zip(bank_names, invoices, mode, strict=True)
    ]
    bank_refs = [inv if m == 1 else "" for inv, m in zip(invoices, mode, strict=True)]
    ledger_idx = ctx.ledger.add(
        count,
        acct=acct,
        amount=amount,
        day=ledger_day,
        description=[f"Payment received - {n}" for n in names],
        reference=invoices,
        counterparty=names,
    )
    bank_idx = ctx.bank.add(
        count,
        acct=acct,
        amount=amount,
        day=bank_day,
        auth_day=np.int64(-1),
        description=descriptions,
        counterparty=[n if k else "" for n, k in zip(names, cp_known, strict=True)],
        reference=bank_refs,
        **_no_pending(count),
    )
    has_ref = np.asarray(mode) < 2
    scenario = np.where(
        has_ref,
        "reference",
        np.asarray(_lag_scenario(bank_day - ledger_day, np.ones(count, np.bool_), "exact")),
    )
    ctx.truth.add(
        bank_idx, ledger_idx, [str(s) for s in scenario.tolist()], ctx.truth.new_groups(count)
    )


def _bulk_vendor_payments(ctx: _Context, count: int) -> None:
    rng = ctx.rng
    acct = ctx.pick_accounts(count)
    vendor = rng.integers(0, len(VENDORS), count).tolist()
    amount = -ctx.money(_lognormal_cents(rng, count, 120_000, 0.9, 2_000, 20_000_000), acct)
    ledger_day = ctx.days(count)
    bank_day = ctx.lagged(ledger_day, ctx.draw_lags(count))
    bills = rng.integers(100_000, 1_000_000, count).tolist()
    trace = _codes(rng, count, 10)
    names = [VENDORS[v] for v in vendor]
    cp_known = (rng.random(count) < 0.5).tolist()
    ledger_idx = ctx.ledger.add(
        count,
        acct=acct,
        amount=amount,
        day=ledger_day,
        description=[f"{n} - bill {b}" for n, b in zip(names, bills, strict=True)],
        reference=[f"BILL-{b}" for b in bills],
        counterparty=names,
    )
    bank_idx = ctx.bank.add(
        count,
        acct=acct,
        amount=amount,
        day=bank_day,
        auth_day=np.int64(-1),
        description=[
            f"ACH DEBIT {BANK_VENDOR[v]} {t}" for v, t in zip(vendor, trace, strict=True)
        ],
        counterparty=[n if k else "" for n, k in zip(names, cp_known, strict=True)],
        reference="",
        **_no_pending(count),
    )
    clean = np.asarray(cp_known, dtype=np.bool_)
    scenario = _lag_scenario(bank_day - ledger_day, clean, "exact")
    ctx.truth.add(bank_idx, ledger_idx, scenario, ctx.truth.new_groups(count))


# --- special scenarios ----------------------------------------------------------------------------


def _group_starts(sizes: Int64Array) -> Int64Array:
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)


def _payouts(ctx: _Context, count: int) -> None:
    """One processor deposit = N sales minus the processor's fee, booked as a negative line."""
    rng = ctx.rng
    acct = ctx.pick_accounts(count)
    processor = rng.integers(0, len(PROCESSORS), count).tolist()
    payout_day = ctx.days(count, low=3)
    # 4-19 sales plus the fee line: at most 20 lines, config.yaml's groups.max_group_size.
    lines = rng.integers(4, 20, count).astype(np.int64)
    total = int(lines.sum())
    owner = np.repeat(np.arange(count), lines)
    sale_acct = acct[owner]
    sale_amount = ctx.money(_lognormal_cents(rng, total, 6_000, 0.7, 500, 200_000), sale_acct)
    sale_day = np.maximum(payout_day[owner] - rng.integers(1, 4, total), 0)
    gross = np.add.reduceat(sale_amount, _group_starts(lines))
    per_sale = ctx.money(np.full(count, 30, np.int64), acct)
    fee = (gross * 29 + 500) // 1000 + per_sale * lines
    payout_codes = _codes(rng, count, 10)
    charge_codes = _random_strings(rng, total, 14, _ALNUM)
    names = [PROCESSORS[p][0] for p in processor]
    sale_names = [names[o] for o in owner.tolist()]
    cp_known = (rng.random(count) < 0.5).tolist()
    sale_idx = ctx.ledger.add(
        total,
        acct=sale_acct,
        amount=sale_amount,
        day=sale_day,
        description=[f"{n} sale ch_{c}" for n, c in zip(sale_names, charge_codes, strict=True)],
        # Processor exports carry the payout id on every sale (the charge id stays in the
        # description): what ties a sale to its deposit, as in real Stripe/Shopify exports.
        reference=[f"po_{payout_codes[o]}" for o in owner.tolist()],
        counterparty=sale_names,
    )
    fee_idx = ctx.ledger.add(
        count,
        acct=acct,
        amount=-fee,
        day=payout_day,
        description=[f"{n} fees, payout {c}" for n, c in zip(names, payout_codes, strict=True)],
        reference=[f"po_{c}" for c in payout_codes],
        counterparty=names,
    )
    bank_idx = ctx.bank.add(
        count,
        acct=acct,
        amount=gross - fee,
        day=payout_day,
        auth_day=np.int64(-1),
        description=[
            PROCESSORS[p][1].format(code=c) for p, c in zip(processor, payout_codes, strict=True)
        ],
        counterparty=[n if k else "" for n, k in zip(names, cp_known, strict=True)],
        reference=[f"po_{c}" for c in payout_codes],  # the deposit's payout id (payment_meta)
        **_no_pending(count),
    )
    groups = ctx.truth.new_groups(count)
    ctx.truth.add(bank_idx[owner], sale_idx, "payout", groups[owner])
    ctx.truth.add(bank_idx, fee_idx, "payout", groups)


def _splits(ctx: _Context, count: int) -> None:
    """One invoice paid in 2-3 transfers over the following days."""
    rng = ctx.rng
    acct = ctx.pick_accounts(count)
    names = [CUSTOMERS[c] for c in rng.integers(0, len(CUSTOMERS), count).tolist()]
    invoice_total = ctx.money(_lognormal_cents(rng, count, 800_000, 0.6, 30_000, 30_000_000), acct)
    ledger_day = ctx.days(count, high_margin=3)
    invoices = ctx.invoice_numbers(count)
    parts = rng.integers(2, 4, count).astype(np.int64)
    starts = _group_starts(parts)
    owner = np.repeat(np.arange(count), parts)
    weights = rng.integers(20, 81, len(owner)).astype(np.int64)
    share = invoice_total[owner] * weights // np.add.reduceat(weights, starts)[owner]
    remainder = invoice_total - np.add.reduceat(share, starts)
    share[starts + parts - 1] += remainder  # the last transfer settles the rest
    bank_day = ctx.lagged(ledger_day[owner], rng.integers(0, 4, len(owner)))
    part_no = (np.arange(len(owner)) - starts[owner] + 1).tolist()
    with_ref = (rng.random(len(owner)) < 0.5).tolist()
    owners = owner.tolist()
    parts_list = parts.tolist()
    ledger_idx = ctx.ledger.add(
        count,
        acct=acct,
        amount=invoice_total,
        day=ledger_day,
        description=[f"Payment received - {n}" for n in names],
        reference=invoices,
        counterparty=names,
    )
    bank_idx = ctx.bank.add(
        len(owner),
        acct=acct[owner],
        amount=share,
        day=bank_day,
        auth_day=np.int64(-1),
        description=[
            f"ACH CREDIT {names[o].upper()[:18]} {invoices[o]} PART {k}/{parts_list[o]}"
            if r
            else f"ACH CREDIT {names[o].upper()[:18]} PARTIAL PMT"
            for o, k, r in zip(owners, part_no, with_ref, strict=True)
        ],
        counterparty="",
        reference="",
        **_no_pending(len(owner)),
    )
    groups = ctx.truth.new_groups(count)
    ctx.truth.add(bank_idx, ledger_idx[owner], "split", groups[owner])


def _wire_fees(ctx: _Context, count: int) -> None:
    """The bank deducts a wire fee (<= 25.00): bank amount = ledger amount - fee."""
    rng = ctx.rng
    eligible = [i for i, a in enumerate(ctx.accounts) if currency_exponent(a.currency) >= 2]
    if not eligible:
        return
    acct = ctx.pick_accounts(count, eligible)
    incoming = rng.random(count) < 0.7
    gross = ctx.money(_lognormal_cents(rng, count, 1_200_000, 0.6, 250_000, 6_000_000), acct)
    fee_cents = rng.choice(np.array([1000, 1250, 1500, 1750, 2000, 2500]), count)
    exponent = np.array([currency_exponent(ctx.accounts[i].currency) for i in acct.tolist()])
    fee = (fee_cents * 10 ** (exponent - 2)).astype(np.int64)
    ledger_amount = np.where(incoming, gross, -gross)
    ledger_day = ctx.days(count)
    bank_day = ctx.lagged(ledger_day, rng.integers(0, 3, count))
    customers = [CUSTOMERS[c] for c in rng.integers(0, len(CUSTOMERS), count).tolist()]
    vendors = [VENDORS[v] for v in rng.integers(0, len(VENDORS), count).tolist()]
    refs = ctx.invoice_numbers(count)
    po_refs = [r.replace("INV", "PO") for r in refs]
    inc = incoming.tolist()
    ledger_idx = ctx.ledger.add(
        count,
        acct=acct,
        amount=ledger_amount,
        day=ledger_day,
        description=[
            f"Wire received - {c}" if i else f"Wire to {v}"
            for c, v, i in zip(customers, vendors, inc, strict=True)
        ],
        reference=[r if i else p for r, p, i in zip(refs, po_refs, inc, strict=True)],
        counterparty=[c if i else v for c, v, i in zip(customers, vendors, inc, strict=True)],
    )
    bank_idx = ctx.bank.add(
        count,
        acct=acct,
        amount=ledger_amount - fee,
        day=bank_day,
        auth_day=np.int64(-1),
        description=[
            f"INCOMING WIRE {c.upper()[:20]}" if i else f"WIRE OUT {v.upper()[:20]} {p}"
            for c, v, p, i in zip(customers, vendors, po_refs, inc, strict=True)
        ],
        counterparty="",
        reference=[r if i else "" for r, i in zip(refs, inc, strict=True)],
        **_no_pending(count),
    )
    ctx.truth.add(bank_idx, ledger_idx, "fee", ctx.truth.new_groups(count))


def _transpose(value: int) -> int | None:
    """Swap the 2nd and 3rd significant digits (a typing slip); None if they are too close."""
    digits = list(str(abs(value)))
    if len(digits) < 4 or abs(int(digits[1]) - int(digits[2])) < 2:
        return None
    digits[1], digits[2] = digits[2], digits[1]
    return int("".join(digits)) * (1 if value > 0 else -1)


def _mismatches(ctx: _Context, count: int) -> None:
    """The ledger amount has two digits transposed; reference and payer agree."""
    rng = ctx.rng
    acct = ctx.pick_accounts(count)
    bank_amount = ctx.money(_lognormal_cents(rng, count, 300_000, 0.5, 100_000, 2_000_000), acct)
    ledger_amount: list[int] = []
    for index, value in enumerate(bank_amount.tolist()):
        typo = _transpose(value)
        while typo is None:  # nudge the amount until its digits can be transposed visibly
            value += 3 * 10 ** max(len(str(value)) - 3, 0)
            typo = _transpose(value)
        bank_amount[index] = value
        ledger_amount.append(typo)
    names = [CUSTOMERS[c] for c in rng.integers(0, len(CUSTOMERS), count).tolist()]
    invoices = ctx.invoice_numbers(count)
    ledger_day = ctx.days(count)
    bank_day = ctx.lagged(ledger_day, rng.integers(0, 3, count))
    ledger_idx = ctx.ledger.add(
        count,
        acct=acct,
        amount=np.asarray(ledger_amount, dtype=np.int64),
        day=ledger_day,
        description=[f"Payment received - {n}" for n in names],
        reference=invoices,
        counterparty=names,
    )
    bank_idx = ctx.bank.add(
        count,
        acct=acct,
        amount=bank_amount,
        day=bank_day,
        auth_day=np.int64(-1),
        description=[
            f"ACH CREDIT {n.upper()[:18]} {i}" for n, i in zip(names, invoices, strict=True)
        ],
        counterparty=names,
        reference="",
        **_no_pending(count),
    )
    ctx.truth.add(bank_idx, ledger_idx, "mismatch", ctx.truth.new_groups(count))


def _card_pairs(ctx: _Context, count: int, *, last_days: int = 0) -> dict[str, Any]:
    """Card purchases (ledger side and bank side values) for the scenarios built on them."""
    rng = ctx.rng
    acct = ctx.pick_accounts(count)
    merchant = rng.integers(0, len(MERCHANTS), count).tolist()
    low = ctx.n_days - last_days if last_days else 0
    day = ctx.days(count, low=low)
    codes = _codes(rng, count)
    nums = rng.integers(1000, 10000, count).tolist()
    return {
        "acct": acct,
        "amount": -ctx.money(_lognormal_cents(rng, count, 4500, 0.9, 150, 900_000), acct),
        "day": day,
        "ledger_text": [MERCHANTS[m][0] for m in merchant],
        "bank_text": [
            MERCHANTS[m][1].format(code=c, num=n)
            for m, c, n in zip(merchant, codes, nums, strict=True)
        ],
        "merchant": [MERCHANTS[m][2] for m in merchant],
    }


def _add_card_ledger(ctx: _Context, card: Mapping[str, Any], day: Any = None) -> Int64Array:
    count = len(card["acct"])
    return ctx.ledger.add(
        count,
        acct=card["acct"],
        amount=card["amount"],
        day=card["day"] if day is None else day,
        description=card["ledger_text"],
        reference="",
        counterparty=card["ledger_text"],
    )


def _add_card_bank(
    ctx: _Context, card: Mapping[str, Any], day: Any, *, pending: bool = False, pending_of: Any = -1
) -> Int64Array:
    count = len(card["acct"])
    return ctx.bank.add(
        count,
        acct=card["acct"],
        amount=card["amount"],
        day=day,
        auth_day=card["day"],
        description=card["bank_text"],
        counterparty=card["merchant"],
        reference="",
        pending=np.full(count, pending),
        pending_of=np.asarray(pending_of),
    )


def _duplicates(ctx: _Context, bank_copies: int, ledger_copies: int) -> None:
    """The bank delivers a row twice (new id); the ledger posts an entry twice."""
    card = _card_pairs(ctx, bank_copies)
    bank_day = ctx.lagged(card["day"], ctx.rng.integers(0, 3, bank_copies))
    ledger_idx = _add_card_ledger(ctx, card)
    first = _add_card_bank(ctx, card, bank_day)
    second = _add_card_bank(ctx, card, bank_day)
    groups = ctx.truth.new_groups(bank_copies)
    ctx.truth.add(first, ledger_idx, "duplicate", groups)
    ctx.truth.add(second, -1, "duplicate", groups)

    card = _card_pairs(ctx, ledger_copies)
    bank_day = ctx.lagged(card["day"], ctx.rng.integers(0, 3, ledger_copies))
    first = _add_card_ledger(ctx, card)
    second = _add_card_ledger(ctx, card)
    bank_idx = _add_card_bank(ctx, card, bank_day)
    groups = ctx.truth.new_groups(ledger_copies)
    ctx.truth.add(bank_idx, first, "duplicate", groups)
    ctx.truth.add(-1, second, "duplicate", groups)


def _pending(ctx: _Context, with_twin: int, pending_only: int) -> None:
    """Pending card rows: some already posted (a twin naming them), some still pending."""
    card = _card_pairs(ctx, with_twin)
    ledger_idx = _add_card_ledger(ctx, card)
    pending_idx = _add_card_bank(ctx, card, card["day"], pending=True)
    posted_day = ctx.lagged(card["day"], ctx.rng.integers(1, 3, with_twin))
    posted_idx = _add_card_bank(ctx, card, posted_day, pending_of=pending_idx)
    groups = ctx.truth.new_groups(with_twin)
    ctx.truth.add(posted_idx, ledger_idx, "pending", groups)
    ctx.truth.add(pending_idx, -1, "pending", groups)

    card = _card_pairs(ctx, pending_only, last_days=2)
    pending_idx = _add_card_bank(ctx, card, card["day"], pending=True)
    groups = ctx.truth.new_groups(pending_only)
    ctx.truth.add(pending_idx, -1, "pending", groups)
    booked = np.flatnonzero(ctx.rng.random(pending_only) < 0.6)
    if len(booked):
        subset = {
            key: (
                value[booked]
                if isinstance(value, np.ndarray)
                else [value[i] for i in booked.tolist()]
            )
            for key, value in card.items()
        }
        ledger_idx = _add_card_ledger(ctx, subset)
        ctx.truth.add(-1, ledger_idx, "pending", groups[booked])


def _reversals(ctx: _Context, count: int) -> None:
    """A debit and its reversal a few days later; nothing in the ledger."""
    rng = ctx.rng
    acct = ctx.pick_accounts(count)
    amount = ctx.money(_lognormal_cents(rng, count, 90_000, 0.8, 2_000, 5_000_000), acct)
    day = ctx.days(count, high_margin=3)
    back = ctx.lagged(day, rng.integers(1, 4, count))
    names = [VENDORS[v].upper()[:16] for v in rng.integers(0, len(VENDORS), count).tolist()]
    trace = _codes(rng, count, 10)
    debit = ctx.bank.add(
        count,
        acct=acct,
        amount=-amount,
        day=day,
        auth_day=np.int64(-1),
        description=[f"ACH DEBIT {n} {t}" for n, t in zip(names, trace, strict=True)],
        counterparty="",
        reference="",
        **_no_pending(count),
    )
    credit = ctx.bank.add(
        count,
        acct=acct,
        amount=amount,
        day=back,
        auth_day=np.int64(-1),
        description=[f"ACH REVERSAL {n} {t}" for n, t in zip(names, trace, strict=True)],
        counterparty="",
        reference="",
        **_no_pending(count),
    )
    groups = ctx.truth.new_groups(count)
    ctx.truth.add(debit, -1, "reversal", groups)
    ctx.truth.add(credit, -1, "reversal", groups)


def _bank_only(ctx: _Context, count: int) -> None:
    """Service fees and interest the books have not recorded yet."""
    rng = ctx.rng
    acct = ctx.pick_accounts(count)
    kind = rng.integers(0, len(BANK_ONLY), count)
    cents = np.array([BANK_ONLY[k][1] for k in kind.tolist()], dtype=np.int64)
    interest = rng.integers(50, 8_000, count)
    cents = np.where(cents == 0, interest, cents)
    idx = ctx.bank.add(
        count,
        acct=acct,
        amount=ctx.money(cents, acct),
        day=ctx.days(count),
        auth_day=np.int64(-1),
        description=[BANK_ONLY[k][0] for k in kind.tolist()],
        counterparty="",
        reference="",
        **_no_pending(count),
    )
    ctx.truth.add(idx, -1, "unmatched_bank", ctx.truth.new_groups(count))


def _ledger_only(ctx: _Context, count: int) -> None:
    """Outstanding checks and deposits in transit: booked, not yet through the bank."""
    rng = ctx.rng
    acct = ctx.pick_accounts(count)
    deposit = (rng.random(count) < 0.3).tolist()
    cents = _lognormal_cents(rng, count, 90_000, 0.8, 2_000, 5_000_000)
    amount = ctx.money(cents, acct) * np.where(deposit, 1, -1)
    day = np.where(deposit, ctx.days(count, low=ctx.n_days - 2), ctx.days(count))
    check_no = rng.integers(1000, 99999, count).tolist()
    vendors = [VENDORS[v] for v in rng.integers(0, len(VENDORS), count).tolist()]
    customers = [CUSTOMERS[c] for c in rng.integers(0, len(CUSTOMERS), count).tolist()]
    invoices = ctx.invoice_numbers(count)
    idx = ctx.ledger.add(
        count,
        acct=acct,
        amount=amount,
        day=day,
        description=[
            f"Deposit in transit - {c}" if d else f"Check #{n} - {v}"
            for c, v, n, d in zip(customers, vendors, check_no, deposit, strict=True)
        ],
        reference=[
            i if d else f"CHK-{n}" for i, n, d in zip(invoices, check_no, deposit, strict=True)
        ],
        counterparty=[c if d else v for c, v, d in zip(customers, vendors, deposit, strict=True)],
    )
    ctx.truth.add(-1, idx, "unmatched_ledger", ctx.truth.new_groups(count))


def _payroll_runs(ctx: _Context, runs: int) -> None:
    """Payroll: many identical salaries on one day, told apart only by the employee's name."""
    rng = ctx.rng
    eligible = [
        i for i, a in enumerate(ctx.accounts) if "payroll" in f"{a.ledger_account} {a.name}".lower()
    ]
    acct = ctx.pick_accounts(runs, eligible)
    sizes = rng.integers(8, 31, runs).astype(np.int64)
    salary_cents = rng.choice(np.array([280_000, 325_000, 410_000, 500_000]), runs)
    day = ctx.days(runs, high_margin=1)
    bank_day = ctx.lagged(day, rng.integers(0, 2, runs))
    owner = np.repeat(np.arange(runs), sizes)
    # Runs take the next names of one shuffled roster: a person is paid once per run, not weekly.
    roster = rng.permutation(len(FIRST_NAMES) * len(LAST_NAMES))
    first_name_at = np.zeros(runs, dtype=np.int64)
    next_name: dict[int, int] = {}
    for run in np.lexsort((np.arange(runs), day)).tolist():
        account = int(acct[run])
        first_name_at[run] = next_name.get(account, 0)
        next_name[account] = int(first_name_at[run] + sizes[run])
    people: list[tuple[str, str]] = []
    for start_at, size in zip(first_name_at.tolist(), sizes.tolist(), strict=True):
        picks = roster[(start_at + np.arange(size)) % len(roster)].tolist()
        people.extend(
            (FIRST_NAMES[p % len(FIRST_NAMES)], LAST_NAMES[p // len(FIRST_NAMES)])
            for p in picks
        )
    amount = -ctx.money(salary_cents[owner].astype(np.int64), acct[owner])
    run_ref = [f"PR-{(ctx.start + timedelta(days=int(d))):%Y%m%d}" for d in day.tolist()]
    count = len(owner)
    owners = owner.tolist()
    ledger_idx = ctx.ledger.add(
        count,
        acct=acct[owner],
        amount=amount,
        day=day[owner],
        description=[f"Salary - {f} {la}" for f, la in people],
        reference=[run_ref[o] for o in owners],
        counterparty=[f"{f} {la}" for f, la in people],
    )
    bank_idx = ctx.bank.add(
        count,
        acct=acct[owner],
        amount=amount,
        day=bank_day[owner],
        auth_day=np.int64(-1),
        description=[f"PAYROLL DIRECT DEP {la.upper()} {f.upper()} PPD" for f, la in people],
        counterparty="",
        reference="",
        **_no_pending(count),
    )
    groups = ctx.truth.new_groups(count)
    ctx.truth.add(bank_idx, ledger_idx, "decoy", groups)


def _subscription_sets(ctx: _Context) -> None:
    """Several subscriptions of exactly the same price charged on the same day.

    Monthly: each account bills every service once per 30 days, on the same day of its cycle,
    in sets of 2-4 services that share a price and a day. The count follows the accounts and
    months, not the row count (ten times the card sales is not ten Notion bills a week).
    """
    rng = ctx.rng
    set_acct, set_day, set_price, services = [], [], [], []
    sizes: list[int] = []
    for account in range(len(ctx.accounts)):
        order = rng.permutation(len(SUBSCRIPTIONS)).tolist()
        while len(order) >= 2:
            size = min(int(rng.integers(2, 5)), len(order))
            cycle_day = int(rng.integers(0, 30))
            price_cents = int(rng.choice(np.array([4_900, 9_900, 12_000, 125_000])))
            for billing_day in range(cycle_day, ctx.n_days, 30):
                services.extend(order[:size])
                sizes.append(size)
                set_acct.append(account)
                set_day.append(billing_day)
                set_price.append(price_cents)
            order = order[size:]
    if not sizes:
        return
    sets = len(sizes)
    acct = np.array(set_acct, dtype=np.int64)
    day = np.array(set_day, dtype=np.int64)
    price = np.array(set_price, dtype=np.int64)
    owner = np.repeat(np.arange(sets), np.array(sizes, dtype=np.int64))
    count = len(owner)
    amount = -ctx.money(price[owner].astype(np.int64), acct[owner])
    codes = _codes(rng, count)
    bank_day = ctx.lagged(day[owner], rng.integers(0, 3, count))
    names = [SUBSCRIPTIONS[s][0] for s in services]
    ledger_idx = ctx.ledger.add(
        count,
        acct=acct[owner],
        amount=amount,
        day=day[owner],
        description=[f"{n} subscription" for n in names],
        reference="",
        counterparty=names,
    )
    bank_idx = ctx.bank.add(
        count,
        acct=acct[owner],
        amount=amount,
        day=bank_day,
        auth_day=day[owner],
        description=[
            SUBSCRIPTIONS[s][1].format(code=c) for s, c in zip(services, codes, strict=True)
        ],
        counterparty="",
        reference="",
        **_no_pending(count),
    )
    ctx.truth.add(bank_idx, ledger_idx, "decoy", ctx.truth.new_groups(count))


# --- assembly -------------------------------------------------------------------------------------


def generate(
    accounts: Sequence[SynthAccount], *, start: date, end: date, seed: int, ledger_rows: int
) -> SynthData:
    """Bank and ledger frames over ``start..end`` with exactly ``ledger_rows`` ledger entries.

    Raises ValueError when there are no accounts, the period is empty, or ``ledger_rows`` is too
    small to hold every scenario (a few hundred rows is enough).
    """
    if not accounts:
        raise ValueError("generate needs at least one account")
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    for account in accounts:
        currency_exponent(account.currency)  # an unknown currency fails here, not midway
    ctx = _Context(
        rng=np.random.default_rng(seed),
        accounts=accounts,
        n_days=(end - start).days + 1,
        bank=_Side(_BANK_NUMERIC, _BANK_TEXT),
        ledger=_Side(_LEDGER_NUMERIC, _LEDGER_TEXT),
        truth=_Truth(),
        start=start,
    )

    def share(fraction: float, minimum: int) -> int:
        return max(minimum, round(ledger_rows * fraction))

    _payouts(ctx, share(0.12 / 12.5, 2))
    _splits(ctx, share(0.006, 2))
    _wire_fees(ctx, share(0.006, 2))
    _mismatches(ctx, share(0.003, 2))
    _duplicates(ctx, share(0.002, 2), share(0.0015, 2))
    _pending(ctx, share(0.004, 2), share(0.003, 3))
    _reversals(ctx, share(0.002, 2))
    _bank_only(ctx, share(0.008, 3))
    _ledger_only(ctx, share(0.012, 3))
    _payroll_runs(ctx, share(0.015 / 19, 1))
    _subscription_sets(ctx)
    bulk = ledger_rows - ctx.ledger.size
    if bulk < 0:
        raise ValueError(
            f"ledger_rows={ledger_rows} is too small for every scenario "
            f"(the special scenarios alone need {ctx.ledger.size})"
        )
    cards = bulk * 55 // 100
    receipts = bulk * 25 // 100
    _bulk_cards(ctx, cards)
    _bulk_receipts(ctx, receipts)
    _bulk_vendor_payments(ctx, bulk - cards - receipts)
    return _assemble(ctx)


def _dates(start: date, days: npt.NDArray[Any]) -> pd.Series:
    base = np.datetime64(start.isoformat(), "D")
    values = (base + days.astype("timedelta64[D]")).astype("datetime64[ns]")
    return pd.Series(values)


def _assemble(ctx: _Context) -> SynthData:
    rng = ctx.rng
    accounts = ctx.accounts
    ledger_names = np.array([a.ledger_account for a in accounts], dtype=object)
    plaid_ids = np.array([a.plaid_account_id for a in accounts], dtype=object)
    currencies = np.array([a.currency for a in accounts], dtype=object)

    bank_acct = ctx.bank.column("acct")
    bank_day = ctx.bank.column("day")
    bank_ids = np.array(_random_strings(rng, ctx.bank.size, 37, _ALNUM), dtype=object)
    # 62**37 possible ids: a collision among a few million is not a practical possibility.
    pending_of = ctx.bank.column("pending_of")
    pending_txn = np.where(pending_of >= 0, bank_ids[np.maximum(pending_of, 0)], "")
    auth_day = ctx.bank.column("auth_day")
    bank_order = np.lexsort((rng.random(ctx.bank.size), bank_acct, bank_day))
    # Reorder the numpy columns, then build each frame once: a frame-level take is slow.
    o = bank_order
    bank_dates = _dates(ctx.start, bank_day[o])
    authorized = _dates(ctx.start, np.maximum(auth_day[o], 0)).where(pd.Series(auth_day[o] >= 0))
    bank = pd.DataFrame(
        {
            "transaction_id": bank_ids[o],
            "account": ledger_names[bank_acct[o]],
            "plaid_account_id": plaid_ids[bank_acct[o]],
            "currency": currencies[bank_acct[o]],
            "amount_minor": ctx.bank.column("amount").astype(np.int64)[o],
            "date": bank_dates,
            "authorized_date": authorized.astype("datetime64[ns]"),
            "description": np.array(ctx.bank.text["description"], dtype=object)[o],
            "counterparty": np.array(ctx.bank.text["counterparty"], dtype=object)[o],
            "reference": np.array(ctx.bank.text["reference"], dtype=object)[o],
            "pending": ctx.bank.column("pending").astype(np.bool_)[o],
            "pending_transaction_id": pending_txn.astype(object)[o],
        }
    )

    ledger_acct = ctx.ledger.column("acct")
    ledger_day = ctx.ledger.column("day")
    ledger_order = np.lexsort((rng.random(ctx.ledger.size), ledger_day))
    width = max(6, len(str(ctx.ledger.size)))
    sorted_ids = np.array(
        [f"JE-{n:0{width}d}" for n in range(1, ctx.ledger.size + 1)], dtype=object
    )
    entry_ids = np.empty(ctx.ledger.size, dtype=object)
    entry_ids[ledger_order] = sorted_ids
    o = ledger_order
    ledger = pd.DataFrame(
        {
            "entry_id": sorted_ids,
            "account": ledger_names[ledger_acct[o]],
            "currency": currencies[ledger_acct[o]],
            "amount_minor": ctx.ledger.column("amount").astype(np.int64)[o],
            "date": _dates(ctx.start, ledger_day[o]),
            "description": np.array(ctx.ledger.text["description"], dtype=object)[o],
            "reference": np.array(ctx.ledger.text["reference"], dtype=object)[o],
            "counterparty": np.array(ctx.ledger.text["counterparty"], dtype=object)[o],
        }
    )

    truth_bank = np.concatenate(ctx.truth.bank)
    truth_ledger = np.concatenate(ctx.truth.ledger)
    truth_group = np.concatenate(ctx.truth.group).astype(np.int64)
    # Sort by group, then by the rows' positions in the output frames (integers: fast).
    bank_position = np.empty(ctx.bank.size, dtype=np.int64)
    bank_position[bank_order] = np.arange(ctx.bank.size)
    ledger_position = np.empty(ctx.ledger.size, dtype=np.int64)
    ledger_position[ledger_order] = np.arange(ctx.ledger.size)
    truth_order = np.lexsort(
        (
            np.where(truth_ledger >= 0, ledger_position[np.maximum(truth_ledger, 0)], -1),
            np.where(truth_bank >= 0, bank_position[np.maximum(truth_bank, 0)], -1),
            truth_group,
        )
    )
    truth_bank, truth_ledger = truth_bank[truth_order], truth_ledger[truth_order]
    truth = pd.DataFrame(
        {
            "bank_transaction_id": np.where(
                truth_bank >= 0, bank_ids[np.maximum(truth_bank, 0)], ""
            ),
            "ledger_entry_id": np.where(
                truth_ledger >= 0, entry_ids[np.maximum(truth_ledger, 0)], ""
            ),
            "scenario": np.array(ctx.truth.scenario, dtype=object)[truth_order],
            "group_id": truth_group[truth_order],
        }
    )
    return SynthData(
        bank=bank[list(BANK_COLUMNS)],
        ledger=ledger[list(LEDGER_COLUMNS)],
        truth=truth[list(TRUTH_COLUMNS)],
    )

