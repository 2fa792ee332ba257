"""Generate one company's books and bank feed with the ground truth of every row.

The world is built pattern by pattern (``_PATTERNS``); each builder adds bank rows, ledger rows,
the true links between them and the items that must stay open, all tagged with the pattern that
made them. Then the cut-off at the as-of date is applied (a bank row dated after it has not
happened yet: its ledger partners become outstanding items), rows are put in date order and get
their ids. Numeric columns of the bulk patterns (card-processor sales) are drawn with numpy; texts
come from a ``random.Random`` per pattern, so adding a pattern never changes the others and the
same seed always gives the same world.
"""

from __future__ import annotations

import json
import math
import random
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .profile import DEFAULT, CardMerchant, Party, Processor, Profile

GENERATOR_VERSION = 1

# Instances per 100,000 ledger rows; card-processor sales fill the rest of the requested rows.
DEFAULT_MIX: dict[str, float] = {
    "card_purchase": 11000, "subscription": 750, "ar_receipt": 8500, "late_booking": 700,
    "early_booking": 550, "split_receipt": 550, "remittance": 600, "ap_payment": 7000,
    "wire_out_fee": 650, "wire_in_fee": 650, "check": 2600, "check_deposit": 450,
    "payroll_item_employees": 750, "payroll_batch_employees": 550, "transfer": 200,
    "mismatch_transposed": 100, "mismatch_dropped_digit": 100, "mismatch_decimal_shift": 100,
    "duplicate_bank": 200, "duplicate_ledger": 150, "reversal_return": 100,
    "reversal_bank_error": 50, "ledger_only": 150,
}

# pattern -> family (the kinds: payout, split, fee, mismatch, duplicate, pending; and the
# others). Written into the truth files so that the scorer needs no generator.
FAMILY: dict[str, str] = {
    "payout_id": "payout", "payout_id_net_fee": "payout", "payout_day": "payout",
    "payout_day_net_fee": "payout", "payout_in_transit": "outstanding",
    "card_purchase": "text", "pending_posted": "pending", "pending_stale": "pending",
    "pending_open": "pending", "subscription": "decoy", "ar_reference": "reference",
    "ar_reference_mangled": "reference", "ar_reference_cut": "reference",
    "ar_no_reference": "text",
    "late_booking": "date_lag", "early_booking": "date_lag", "split_receipt": "split",
    "remittance": "remittance", "ap_payment": "reference", "wire_out": "reference",
    "wire_fee_booked": "fee", "wire_fee_unbooked": "fee", "wire_fee_deducted": "fee",
    "furikomi_fee_deducted": "fee", "check": "check", "check_slow": "check",
    "check_outstanding": "outstanding", "check_deposit": "remittance",
    "deposit_in_transit": "outstanding", "payroll_item": "decoy", "payroll_batch": "batch",
    "tax_payment": "reference", "rent": "decoy", "transfer": "reference",
    "mismatch_transposed": "mismatch", "mismatch_dropped_digit": "mismatch",
    "mismatch_decimal_shift": "mismatch", "duplicate_bank": "duplicate",
    "duplicate_ledger": "duplicate", "reversal_return": "reversal",
    "reversal_bank_error": "reversal", "bank_fee_service": "bank_only",
    "bank_interest": "bank_only", "bank_fee_transfer": "bank_only", "ledger_only": "ledger_only",
    "in_transit": "outstanding",
}

_UPPER_ALNUM = string.ascii_uppercase + string.digits
_ALNUM = string.ascii_letters + string.digits
_EXPONENT = {"USD": 2, "EUR": 2, "JPY": 0}
_MAJOR = {"USD": 1.0, "EUR": 0.92, "JPY": 150.0}  # USD-sized medians to each currency


@dataclass(frozen=True)
class Habits:
    """How a company spreads some patterns out, changed to make a variant world of a profile
    (``benchmarks/bench_variants.py``): what the engine meets at another company, measured
    without tuning on it. The defaults are the profiles' own habits (the same rows)."""

    split_parts: tuple[int, int] | None = None  # None: 2 (three in four) or 3
    split_gap_days: tuple[int, int] = (2, 5)  # days between one part and the next
    late_booking_days: tuple[int, int] = (4, 12)  # receipts booked this long after the bank
    early_booking_days: tuple[int, int] = (4, 9)  # payments booked this long before
    remittance_invoices: tuple[int, int] = (2, 6)  # invoices one transfer pays


@dataclass
class World:
    """A generated world: the rows as recon will read them, and the truth about them."""

    profile: Profile
    seed: int
    rows_requested: int
    start: np.datetime64
    as_of: np.datetime64
    bank: pd.DataFrame  # one row per Plaid transaction (see _bank_frame)
    ledger: pd.DataFrame  # entry_id, date, account, currency, amount_minor, description, ...
    truth_links: pd.DataFrame  # bank_transaction_id, ledger_entry_id, pattern, family, truncated
    truth_open: pd.DataFrame  # bank_transaction_id, ledger_entry_id, side, kind, pattern, ...
    counts: dict[str, int] = field(default_factory=dict)
    # side, id, same_as: rows nothing in the files tells apart from another row of their side
    # (two identical subscription charges, two bank fee lines, a payroll line cut before the
    # name); a link to one of them is as right as a link to the other.
    truth_same: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["side", "id", "same_as"]))


class _Fields(dict[str, Any]):
    """Template fields; ``{A12}``/``{D8}`` draw random upper-case alphanumerics / digits."""

    def __init__(self, r: random.Random, values: dict[str, Any]) -> None:
        super().__init__(values)
        self._r = r

    def __missing__(self, key: str) -> str:
        if len(key) >= 2 and key[0] in "AD" and key[1:].isdigit():
            return _token(self._r, key[0], int(key[1:]))
        raise KeyError(key)


def _token(r: random.Random, kind: str, length: int) -> str:
    """``length`` random digits (kind "D") or upper-case letters and digits (kind "A")."""
    if kind == "D":
        return f"{r.getrandbits(64) % 10**length:0{length}d}" if length <= 19 else "".join(
            _token(r, "D", 19) for _ in range(length // 19 + 1))[:length]
    value = r.getrandbits(6 * length)
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 36)
        chars.append(_UPPER_ALNUM[digit])
    return "".join(chars)


def _ri(r: random.Random, low: int, high: int) -> int:
    """_ri(r, low, high), several times faster (the generator draws millions)."""
    return low + int(r.random() * (high - low + 1))


class _Book:
    """Rows, links and open items as they are built (columns of Python lists)."""

    def __init__(self) -> None:
        self.b: dict[str, list[Any]] = {name: [] for name in _BANK_FIELDS}
        self.l: dict[str, list[Any]] = {name: [] for name in _LEDGER_FIELDS}
        self.links: list[tuple[int, int, str]] = []
        self.opens: list[tuple[int, int, str, str, str, int]] = []  # bank, ledger, side, kind...
        self.event_transit: list[str] = []
        # Bank rows whose text and fields say nothing of which ledger row they pay (a payroll
        # debit cut before the employee's name): alike in all else, they stand for each other.
        self.wordless: set[int] = set()

    def event(self, transit: str = "in_transit") -> int:
        """A new event; ``transit`` names its ledger rows when its bank rows fall past as-of."""
        self.event_transit.append(transit)
        return len(self.event_transit) - 1

    def bank(self, event: int, **values: Any) -> int:
        row = dict(_BANK_DEFAULTS)
        row.update(values)
        row["event"] = event
        for name in _BANK_FIELDS:
            self.b[name].append(row[name])
        return len(self.b["date"]) - 1

    def ledger(self, event: int, date: int, account: int, amount: int, description: str,
               reference: str, counterparty: str) -> int:
        assert amount != 0
        for name, value in (("date", date), ("account", account), ("amount", amount),
                            ("description", description), ("reference", reference),
                            ("counterparty", counterparty), ("event", event)):
            self.l[name].append(value)
        return len(self.l["date"]) - 1

    def ledger_bulk(self, event: int, dates: list[int], account: int, amounts: list[int],
                    descriptions: list[str], references: list[str], counterparty: str) -> range:
        first = len(self.l["date"])
        count = len(dates)
        assert 0 not in amounts
        self.l["date"].extend(dates)
        self.l["account"].extend([account] * count)
        self.l["amount"].extend(amounts)
        self.l["description"].extend(descriptions)
        self.l["reference"].extend(references)
        self.l["counterparty"].extend([counterparty] * count)
        self.l["event"].extend([event] * count)
        return range(first, first + count)

    def link(self, bank: int, ledger: int, pattern: str) -> None:
        self.links.append((bank, ledger, pattern))

    def open(self, pattern: str, kind: str, *, bank: int = -1, ledger: int = -1,
             twin: int = -1) -> None:
        side = "both" if bank >= 0 and ledger >= 0 else ("bank" if bank >= 0 else "ledger")
        self.opens.append((bank, ledger, side, kind, pattern, twin))


_BANK_FIELDS = ("date", "authorized", "account", "amount", "name", "merchant", "party",
                "party_type", "meta", "check", "pending", "pending_of", "removed", "channel",
                "category", "city", "truncated", "event")
_BANK_DEFAULTS: dict[str, Any] = {
    "authorized": -1, "merchant": None, "party": None, "party_type": "merchant", "meta": None,
    "check": None, "pending": False, "pending_of": -1, "removed": False, "channel": "other",
    "category": None, "city": None, "truncated": False,
}
_LEDGER_FIELDS = ("date", "account", "amount", "description", "reference", "counterparty",
                  "event")


class _Ctx:
    """What every pattern builder needs: the profile, dates, counters and random sources."""

    def __init__(self, profile: Profile, seed: int, rows: int,
                 habits: Habits | None = None) -> None:
        self.p = profile
        self.habits = habits or Habits()
        self.seed = seed
        self.rows = rows
        self.scale = rows / 100_000
        self.start = np.datetime64(profile.start, "D")
        self.first = 0  # day numbers are offsets from start
        self.as_of = profile.days - 1
        self.holidays = np.array(profile.holidays, dtype="datetime64[D]")
        self.acct = {a.key: i for i, a in enumerate(profile.accounts)}
        self.currency = [a.currency for a in profile.accounts]
        self.counters: dict[str, int] = {}
        self.book = _Book()
        self.coid: dict[str, str] = {}
        self._dates: dict[int, Any] = {}

    def rng(self, key: str) -> tuple[np.random.Generator, random.Random]:
        digest = sum((i + 1) * ord(c) for i, c in enumerate(key)) % 1_000_003
        return (np.random.default_rng([self.seed, digest]),
                random.Random(self.seed * 1_000_003 + digest))

    def count(self, pattern: str, exponent: float = 1.0) -> int:
        """Instances of a pattern: its share per 100k rows, scaled (sub-linearly if asked)."""
        per_100k = self.p.mix.get(pattern, DEFAULT_MIX[pattern])
        return round(per_100k * self.scale**exponent)

    def next(self, counter: str, start: int) -> int:
        value = self.counters.get(counter, start)
        self.counters[counter] = value + 1
        return value

    # Dates: integers, days after start.
    def day(self, offset: int) -> np.datetime64:
        return self.start + np.timedelta64(int(offset), "D")

    def bday(self, days: npt.ArrayLike, offsets: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Business-day offset (roll forward first), as day numbers."""
        dates = self.start + np.asarray(days, dtype=np.int64).astype("timedelta64[D]")
        moved = np.busday_offset(dates, np.asarray(offsets), roll="forward",
                                 holidays=self.holidays)
        return (moved - self.start).astype(np.int64)

    def is_bday(self, day: int) -> bool:
        return bool(np.is_busday(self.day(day), holidays=self.holidays))

    def date_of(self, day: int) -> Any:
        """The calendar date of a day number (a datetime.date), cached."""
        date = self._dates.get(day)
        if date is None:
            date = self._dates[day] = self.day(day).astype(object)
        return date

    def fields(self, r: random.Random, day: int, **values: Any) -> _Fields:
        date = self.date_of(day)
        base = {"y": date.year, "yy": f"{date.year % 100:02d}", "mm": f"{date.month:02d}",
                "dd": f"{date.day:02d}", "company": self.p.company_bank,
                "trace": f"{date:%Y%m%d}-{_ri(r, 0, 99999):05d}"}
        base.update(values)
        return _Fields(r, base)

    def cut(self, r: random.Random, text: str, share: float | None = None) -> tuple[str, bool]:
        """The bank's truncation: a share of texts is cut at 18-32 characters, mid-word."""
        low, high = self.p.truncate
        if r.random() >= (self.p.truncate_share if share is None else share):
            return text, False
        length = _ri(r, low, high)
        if len(text) <= length:
            return text, False
        return text[:length].rstrip(), True

    def amount(self, r: random.Random, median: float, sigma: float, currency: str,
               round_share: float = 0.0) -> int:
        """A positive amount in minor units, log-normal around ``median`` (USD-sized)."""
        major = median * _MAJOR[currency] * math.exp(r.gauss(0.0, sigma))
        exponent = _EXPONENT[currency]
        if r.random() < round_share:
            step = 10 ** max(0, int(math.log10(max(major, 1))) - 1)
            major = max(step, round(major / step) * step)
        minor = round(major * 10**exponent)
        if currency == "JPY" and minor >= 10_000 and r.random() < 0.6:
            minor = round(minor, -2)
        return max(minor, 10 ** exponent if currency != "JPY" else 100)

    def coid_of(self, party: str) -> str:
        if party not in self.coid:
            digest = sum((i + 7) * ord(c) for i, c in enumerate(party))
            self.coid[party] = f"{(digest * 7919 + self.seed) % 9_000_000_000 + 1_000_000_000}"
        return self.coid[party]


def _pick(r: random.Random, items: Sequence[Any]) -> Any:
    return items[r.randrange(len(items))]


def _weighted(r: random.Random, pairs: Sequence[tuple[Any, float]]) -> Any:
    total = sum(w for _, w in pairs)
    x = r.random() * total
    for value, weight in pairs:
        x -= weight
        if x < 0:
            return value
    return pairs[-1][0]


def _meta(**values: Any) -> dict[str, Any] | None:
    meta = {k: v for k, v in values.items() if v is not None}
    return meta or None


# ---------------------------------------------------------------------------------------------
# Card-processor payouts


def _payouts(ctx: _Ctx, total_sales: int) -> None:
    """Each processor pays one day's (or, at low volume, one week's) sales less its fees."""
    p = ctx.p
    rng, r = ctx.rng("payouts")
    share_sum = sum(proc.share for proc in p.processors)
    days = np.arange(ctx.first, ctx.as_of + 1)
    weekday = ((ctx.start + days.astype("timedelta64[D]")).astype("datetime64[D]").view("int64")
               - 4) % 7  # 0 = Monday
    for proc in p.processors:
        n = round(total_sales * proc.share / share_sum)
        if n <= 0:
            continue
        account = ctx.acct[proc.account]
        currency = ctx.currency[account]
        weight = np.where(weekday >= 5, 0.7, 1.0)
        per_day = rng.multinomial(n, weight / weight.sum())
        sale_day = np.repeat(days, per_day)
        business_days = max(1, int(np.is_busday(ctx.start + days.astype("timedelta64[D]"),
                                                holidays=ctx.holidays).sum()))
        weekly = n / business_days < 15
        if weekly:
            week_start = sale_day - weekday[sale_day - ctx.first]
            settle = ctx.bday(week_start + 7, proc.lag_days - 1)
        else:
            settle = ctx.bday(sale_day, proc.lag_days)
        settle = _hold_small_payouts(settle)
        median = 48.0 * _MAJOR[currency]
        major = median * np.exp(rng.normal(0.0, 0.9, n))
        exponent = _EXPONENT[currency]
        amounts = np.maximum(np.round(major * 10**exponent).astype(np.int64),
                             100 if exponent == 0 else 150)
        refund = rng.random(n) < 0.02
        amounts = np.where(refund, -np.maximum(amounts // 2, 1), amounts)
        fees = np.where(refund, 0, (amounts * proc.fee_bp + 5000) // 10000 + proc.fee_fixed)
        order = np.argsort(settle, kind="stable")
        sale_day, settle, amounts, fees, refund = (sale_day[order], settle[order],
                                                   amounts[order], fees[order], refund[order])
        payout_days, first_index = np.unique(settle, return_index=True)
        bounds = np.append(first_index, n)
        for k, pay_day in enumerate(payout_days.tolist()):
            lo, hi = int(bounds[k]), int(bounds[k + 1])
            _one_payout(ctx, r, proc, account, currency, int(pay_day), sale_day[lo:hi],
                        amounts[lo:hi], fees[lo:hi], refund[lo:hi])


_MIN_PAYOUT_SALES = 15


def _hold_small_payouts(settle: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """A processor holds a balance of fewer than 15 sales until the next payout day (only the
    last payout of the period may stay smaller)."""
    days, counts = np.unique(settle, return_counts=True)
    mapping: dict[int, int] = {}
    waiting: list[int] = []
    gathered = 0
    for day, count in zip(days.tolist(), counts.tolist(), strict=True):
        waiting.append(day)
        gathered += count
        if gathered >= _MIN_PAYOUT_SALES:
            mapping.update((d, day) for d in waiting)
            waiting, gathered = [], 0
    mapping.update((d, d) for d in waiting)
    lookup = np.asarray([mapping[d] for d in days.tolist()], dtype=np.int64)
    return lookup[np.searchsorted(days, settle)]


def _one_payout(ctx: _Ctx, r: random.Random, proc: Processor, account: int, currency: str,
                pay_day: int, sale_day: npt.NDArray[np.int64], amounts: npt.NDArray[np.int64],
                fees: npt.NDArray[np.int64], refund: npt.NDArray[np.bool_]) -> None:
    book, p = ctx.book, ctx.p
    event = book.event("payout_in_transit")
    fields = ctx.fields(r, pay_day)
    payout_id = proc.payout_id.format_map(fields)
    fee_total = int(fees.sum())
    net = int(amounts.sum()) - fee_total
    if net <= 0:  # a payout day of refunds only: the processor pays nothing that day
        for day, amount in zip(sale_day.tolist(), amounts.tolist(), strict=True):
            ledger = book.ledger(event, day, account, amount, p.ledger_texts["refund"], "",
                                 proc.name)
            book.open("ledger_only", "unmatched_ledger", ledger=ledger)
        return
    fields["id"] = payout_id
    text, truncated = ctx.cut(r, _pick(r, proc.layouts).format_map(fields))
    labelled = "DES:" in text
    bank = book.bank(
        event, date=pay_day, account=account, amount=net, name=text,
        merchant=proc.merchant_name if r.random() < 0.7 else None,
        party=proc.name if r.random() < 0.8 else None, party_type=proc.counterparty_type,
        meta=_meta(reference_number=payout_id if r.random() < 0.3 else None,
                   ppd_id=ctx.coid_of(proc.name) if labelled else None,
                   payment_method="ACH" if currency == "USD" else None),
        channel="other", category="INCOME_OTHER", truncated=truncated)
    if proc.books_payout_id:
        pattern = "payout_id" if proc.fee_in_ledger else "payout_id_net_fee"
    else:
        pattern = "payout_day" if proc.fee_in_ledger else "payout_day_net_fee"
    orders = ctx.counters.get(f"order-{proc.key}", 100_000 * (1 + p.processors.index(proc)))
    ctx.counters[f"order-{proc.key}"] = orders + len(amounts)
    store = _ri(r, 1, 40)
    descriptions = []
    for i, is_refund in enumerate(refund.tolist()):
        values = {"order": orders + i, "store": (store + i) % 40 + 1, "id": payout_id}
        text_template = (proc.refund_text if is_refund
                         else proc.sale_text[(orders + i) % len(proc.sale_text)])
        descriptions.append(text_template.format_map(values))
    references = ([payout_id] * len(amounts) if proc.books_payout_id
                  else [f"SO-{orders + i}" for i in range(len(amounts))])
    rows = book.ledger_bulk(event, sale_day.tolist(), account, amounts.tolist(), descriptions,
                            references, proc.name)
    book.links.extend((bank, ledger, pattern) for ledger in rows)
    if proc.fee_in_ledger and pay_day <= ctx.as_of:  # booked when the payout arrives
        description = proc.fee_text.format_map({"id": payout_id})
        ledger = book.ledger(event, pay_day, account, -fee_total, description,
                             payout_id if proc.books_payout_id else "", proc.name)
        book.link(bank, ledger, pattern)


# ---------------------------------------------------------------------------------------------
# Card purchases, pending -> posted, subscriptions

_CATEGORY = {"Meals": "FOOD_AND_DRINK", "Travel": "TRAVEL", "Lodging": "TRAVEL",
             "Fuel": "TRANSPORTATION", "Office supplies": "GENERAL_MERCHANDISE",
             "Facilities": "HOME_IMPROVEMENT", "Equipment": "GENERAL_MERCHANDISE",
             "Shipping": "GENERAL_SERVICES", "Supplies": "GENERAL_MERCHANDISE",
             "Software": "GENERAL_SERVICES", "Parts": "GENERAL_MERCHANDISE"}
_CITIES = (("San Francisco", "CA"), ("Oakland", "CA"), ("San Jose", "CA"), ("Austin", "TX"),
           ("Chicago", "IL"), ("New York", "NY"), ("Seattle", "WA"), ("Boston", "MA"))


def _card_purchases(ctx: _Ctx) -> None:
    book, p = ctx.book, ctx.p
    _, r = ctx.rng("card")
    for _ in range(ctx.count("card_purchase")):
        key = _weighted(r, (("op", 0.8), ("eur", 0.1), ("jpy", 0.1)))
        account = ctx.acct[key]
        currency = ctx.currency[account]
        merchant: CardMerchant = _pick(r, p.card_merchants)
        swipe = _ri(r, ctx.first, ctx.as_of)
        posted = int(ctx.bday([swipe], [_weighted(r, ((1, 0.7), (2, 0.2), (3, 0.1)))])[0])
        base = ctx.amount(r, merchant.median, 0.6, currency)
        tracked = r.random() < 0.35  # the bank showed it as pending first
        changed = tracked and (merchant.tips or currency != "USD") and r.random() < 0.6
        final = base
        if changed:
            factor = 1 + r.uniform(0.15, 0.22) if merchant.tips else 1 + r.uniform(-0.012, 0.012)
            final = max(1, round(base * factor))
            if final == base:
                final = base + 1
        event = book.event("in_transit")
        values = ctx.fields(r, swipe, store=f"{_ri(r, 100, 9999):04d}")
        descriptor = merchant.descriptor.format_map(values)[:25]
        city = _pick(r, _CITIES) if r.random() < 0.5 else None
        common = {
            "account": account, "name": descriptor,
            "merchant": merchant.clean if r.random() < 0.55 else None,
            "party": merchant.clean if r.random() < 0.6 else None,
            "channel": "in store" if city else "online",
            "category": _CATEGORY.get(merchant.category), "city": city,
            "authorized": swipe,
        }
        ref = p.expense_ref.format(y=ctx.date_of(swipe).year,
                                   n=1000 + (swipe // 30) * 40 + _ri(r, 0, 39))
        description = p.ledger_texts["card"].format(category=merchant.category,
                                                    merchant=merchant.clean)
        ledger = book.ledger(event, swipe, account, -final, description, ref, merchant.clean)
        if posted > ctx.as_of:
            if tracked:  # still pending at the cut-off: the bank shows only the pending row
                pend = book.bank(event, date=swipe, amount=-base, pending=True, **common)
                book.open("pending_open", "pending", bank=pend)
                book.open("pending_open", "unmatched_ledger", ledger=ledger)
            else:
                late = book.bank(event, date=posted, amount=-final, **common)
                book.link(late, ledger, "card_purchase")
            continue
        if tracked:
            stale = p.bank_file == "sync" and r.random() < 0.3
            pend = book.bank(event, date=swipe, amount=-base, pending=True, removed=not stale,
                             **common)
            posted_row = book.bank(event, date=posted, amount=-final, pending_of=pend, **common)
            book.link(posted_row, ledger, "pending_posted")
            if stale:
                book.open("pending_stale", "pending", bank=pend)
        else:
            posted_row = book.bank(event, date=posted, amount=-final, **common)
            book.link(posted_row, ledger, "card_purchase")


def _subscriptions(ctx: _Ctx) -> None:
    book, p = ctx.book, ctx.p
    _, r = ctx.rng("subscriptions")
    prices = {}
    for i in range(max(3, ctx.count("subscription") // 3)):
        merchant: CardMerchant = _pick(r, p.subscriptions)
        price_key = (merchant.clean, i % 4)
        if price_key not in prices:
            prices[price_key] = round(merchant.median * _weighted(
                r, ((1, 0.6), (2, 0.2), (5, 0.1), (10, 0.1))) * 100)
        price = prices[price_key]
        bill_dom = _weighted(r, ((1, 0.5), (_ri(r, 2, 28), 0.5)))
        values = ctx.fields(r, 0)
        descriptor = merchant.descriptor.format_map(values)[:25]
        merchant_name = merchant.clean if r.random() < 0.5 else None
        month = ctx.start.astype("datetime64[M]")
        last = ctx.day(ctx.as_of).astype("datetime64[M]")
        while month <= last:
            bill = int((month.astype("datetime64[D]") + np.timedelta64(bill_dom - 1, "D")
                        - ctx.start).astype(np.int64))
            month = month + np.timedelta64(1, "M")
            if bill < ctx.first or bill > ctx.as_of:
                continue
            posted = bill + _weighted(r, ((0, 0.6), (1, 0.4)))
            event = book.event("in_transit")
            bank = book.bank(event, date=posted, authorized=bill, account=ctx.acct["op"],
                             amount=-price, name=descriptor, merchant=merchant_name,
                             party=merchant.clean if r.random() < 0.5 else None,
                             channel="online", category="GENERAL_SERVICES")
            label = ctx.date_of(bill).strftime("%b %Y")
            ledger = book.ledger(event, bill, ctx.acct["op"], -price,
                                 p.ledger_texts["subscription"].format(merchant=merchant.clean,
                                                                        month=label),
                                 "", merchant.clean)
            book.link(bank, ledger, "subscription")


# ---------------------------------------------------------------------------------------------
# Receipts and payments with references


def _invoice_ref(ctx: _Ctx, r: random.Random, key: str, day: int) -> str:
    year = ctx.date_of(day).year
    if key == "eur" and r.random() < ctx.p.creditor_reference_share:
        return _creditor_reference(ctx.next("rf", 5_390_075_470))
    start = {"op": 51_000, "payroll": 51_000, "eur": 451, "jpy": 2_001}[key]
    return ctx.p.invoice_ref[key].format(n=ctx.next(f"inv-{key}", start), y=year)


def _creditor_reference(number: int) -> str:
    """An ISO 11649 structured creditor reference, printed in groups of four."""
    body = str(number)
    digits = "".join(str(int(c, 36)) for c in body + "RF00")
    check = 98 - int(digits) % 97
    electronic = f"RF{check:02d}{body}"
    return " ".join(electronic[i:i + 4] for i in range(0, len(electronic), 4))


def _mangle(r: random.Random, ref: str) -> str:
    """How payers retype a reference: no dash, no prefix, a space, a word."""
    if ref.startswith("RF"):
        return ref.replace(" ", "")
    digits = "".join(c for c in ref if c.isdigit())
    head = ref.rstrip("0123456789").rstrip("-/ ")
    choice = r.randrange(4)
    if choice == 0 and head:
        return ref.replace("-", "").replace("/", "").replace(" ", "")
    if choice == 1 and digits:
        return digits
    if choice == 2 and head:
        return f"{head} {digits}"
    return f"INVOICE {digits}" if digits else ref


def _party_for(ctx: _Ctx, r: random.Random, key: str, vendor: bool = False) -> Party:
    p = ctx.p
    if key == "eur":
        return _pick(r, p.eur_customers)
    if key == "jpy":
        return _pick(r, p.jpy_partners)
    return _pick(r, p.vendors if vendor else p.customers)


def _receipt_layouts(ctx: _Ctx, key: str, r: random.Random) -> tuple[str, str]:
    p = ctx.p
    if key == "eur":
        return _pick(r, p.sepa_in), "SEPA"
    if key == "jpy":
        return _pick(r, p.jpy_in), "FURIKOMI"
    if r.random() < 0.7:
        return _pick(r, p.ach_credit), "ACH"
    return _pick(r, p.wire_in), "Wire"


def _payment_layouts(ctx: _Ctx, key: str, r: random.Random) -> tuple[str, str]:
    p = ctx.p
    if key == "eur":
        return _pick(r, p.sepa_out), "SEPA"
    if key == "jpy":
        return _pick(r, p.jpy_out), "FURIKOMI"
    if r.random() < 0.7:
        return _pick(r, p.ach_debit), "ACH"
    return _pick(r, p.wire_out), "Wire"


def _bank_text(ctx: _Ctx, r: random.Random, layout: str, day: int, party: Party,
               shown_ref: str, **extra: Any) -> str:
    fields = ctx.fields(r, day, name=party.bank, ref=shown_ref, coid=ctx.coid_of(party.legal),
                        **extra)
    text = layout.format_map(fields)
    return " ".join(text.split())  # an empty {ref} leaves no double space


def _transfer_row(ctx: _Ctx, r: random.Random, event: int, *, key: str, day: int, amount: int,
                  party: Party, ref: str, incoming: bool, mangle: float = 0.2,
                  placement: Sequence[tuple[str, float]] | None = None,
                  layout: tuple[str, str] | None = None,
                  truncate_share: float | None = None) -> tuple[int, str]:
    """One ACH/wire/SEPA/furikomi bank row carrying (or not) the company's reference.

    Returns the bank row and the pattern label for the reference: ``ar_reference`` when the
    reference is shown as the ledger has it, ``ar_reference_mangled`` when retyped,
    ``ar_reference_cut`` when the bank's truncation left only its start at the end of the text,
    ``ar_no_reference`` when the bank row does not carry it at all.
    """
    book = ctx.book
    layout_text, method = layout or (_receipt_layouts(ctx, key, r) if incoming
                                     else _payment_layouts(ctx, key, r))
    where = _weighted(r, placement or (("text", 0.55), ("reference_number", 0.15),
                                       ("reason", 0.1), ("nowhere", 0.2)))
    shown = _mangle(r, ref) if ref and r.random() < mangle else ref
    if where == "text" and "{ref}" not in layout_text:
        where = "reason"  # the layout has no room for it: it travels in the addenda
    in_text = shown if where == "text" else ""
    text, truncated = ctx.cut(r, _bank_text(ctx, r, layout_text, day, party, in_text),
                              truncate_share)
    if where == "nowhere" or not ref:
        label = "ar_no_reference"
    elif in_text and in_text not in text:
        # Cut by the bank: what is left of it may still end the text ("... INV-73").
        cut_left = any(text.endswith(in_text[:k]) for k in range(4, len(in_text)))
        label = "ar_reference_cut" if cut_left else "ar_no_reference"
    else:
        label = "ar_reference" if shown == ref else "ar_reference_mangled"
    trace = f"{ctx.date_of(day):%Y%m%d}{_ri(r, 0, 9_999_999):07d}"
    meta = _meta(
        reference_number=shown if where == "reference_number" else
        (trace if r.random() < 0.3 else None),
        reason=shown if where == "reason" else None,
        ppd_id=ctx.coid_of(party.legal) if method == "ACH" else None,
        payer=party.bank if incoming and r.random() < 0.3 else None,
        payee=party.bank if not incoming and r.random() < 0.3 else None,
        by_order_of=party.legal if method == "Wire" and incoming else None,
        payment_method=method if method in ("ACH", "Wire") else None)
    bank = book.bank(event, date=day, account=ctx.acct[key], amount=amount if incoming else -amount,
                     name=text, merchant=party.merchant if r.random() < 0.5 else None,
                     party=party.legal if r.random() < 0.4 else None, meta=meta,
                     channel="other",
                     category="TRANSFER_IN" if incoming else "TRANSFER_OUT",
                     truncated=truncated)
    return bank, label


def _account_key(r: random.Random, weights: Sequence[tuple[str, float]]) -> str:
    return str(_weighted(r, weights))


_AR_ACCOUNTS = (("op", 0.6), ("eur", 0.25), ("jpy", 0.15))
_AP_ACCOUNTS = (("op", 0.65), ("eur", 0.2), ("jpy", 0.15))


def _ar_receipts(ctx: _Ctx) -> None:
    book, p = ctx.book, ctx.p
    _, r = ctx.rng("ar")
    for _ in range(ctx.count("ar_receipt")):
        key = _account_key(r, _AR_ACCOUNTS)
        party = _party_for(ctx, r, key)
        day = _ri(r, ctx.first, ctx.as_of)
        lag = _weighted(r, ((0, 0.4), (1, 0.3), (2, 0.15), (-1, 0.1), (3, 0.05)))
        bank_day = max(ctx.first, day + lag)
        if key == "op" and r.random() < 0.25:
            ref = p.customer_ref.format(n=ctx.next("ar", 3_001))
        else:
            ref = _invoice_ref(ctx, r, key, day)
        amount = ctx.amount(r, 2500.0, 1.0, ctx.currency[ctx.acct[key]], round_share=0.3)
        event = book.event("deposit_in_transit")
        bank, label = _transfer_row(ctx, r, event, key=key, day=bank_day, amount=amount,
                                    party=party, ref=ref, incoming=True)
        text = _pick(r, p.receipt_text).format(ref=ref, name=party.legal)
        ledger = book.ledger(event, day, ctx.acct[key], amount, text, ref, party.legal)
        book.link(bank, ledger, label)


def _ap_payments(ctx: _Ctx) -> None:
    book, p = ctx.book, ctx.p
    _, r = ctx.rng("ap")
    for _ in range(ctx.count("ap_payment")):
        key = _account_key(r, _AP_ACCOUNTS)
        party = _party_for(ctx, r, key, vendor=True)
        day = _ri(r, ctx.first, ctx.as_of)
        bank_day = day + _weighted(r, ((0, 0.5), (1, 0.3), (2, 0.15), (3, 0.05)))
        ref = _bill_ref(ctx, r, day)
        amount = ctx.amount(r, 1800.0, 1.1, ctx.currency[ctx.acct[key]], round_share=0.2)
        event = book.event("in_transit")
        bank, _label = _transfer_row(
            ctx, r, event, key=key, day=bank_day, amount=amount, party=party, ref=ref,
            incoming=False, mangle=0.0,
            placement=(("text", 0.5), ("reference_number", 0.1), ("nowhere", 0.4)))
        text = _pick(r, p.payment_text).format(ref=ref, name=party.legal)
        ledger = book.ledger(event, day, ctx.acct[key], -amount, text, ref, party.legal)
        book.link(bank, ledger, "ap_payment")
        if key == "jpy" and r.random() < 0.7:  # the bank's transfer fee, never booked
            fee = book.bank(event, date=bank_day, account=ctx.acct[key],
                            amount=-_pick(r, (440, 660, 770)), name=p.jpy_transfer_fee,
                            category="BANK_FEES")
            book.open("bank_fee_transfer", "unmatched_bank", bank=fee)


def _bill_ref(ctx: _Ctx, r: random.Random, day: int) -> str:
    p = ctx.p
    year = ctx.date_of(day).year
    if r.random() < 0.3:
        return p.po_ref.format(n=ctx.next("po", 55_001), y=year)
    return _pick(r, p.bill_ref).format(n=ctx.next("bill", 10_000 + _ri(r, 0, 80_000)),
                                       y=year)


def _date_lags(ctx: _Ctx) -> None:
    """Receipts booked days after the bank shows them; payments booked days before."""
    book, p = ctx.book, ctx.p
    _, r = ctx.rng("lags")
    for _ in range(ctx.count("late_booking")):
        key = _account_key(r, _AR_ACCOUNTS)
        party = _party_for(ctx, r, key)
        lag = _ri(r, *ctx.habits.late_booking_days)
        bank_day = _ri(r, ctx.first, ctx.as_of - lag)
        ref = _invoice_ref(ctx, r, key, bank_day)
        amount = ctx.amount(r, 2200.0, 1.0, ctx.currency[ctx.acct[key]], round_share=0.3)
        event = book.event()
        bank, _label = _transfer_row(ctx, r, event, key=key, day=bank_day, amount=amount,
                                     party=party, ref=ref, incoming=True)
        text = _pick(r, p.receipt_text).format(ref=ref, name=party.legal)
        ledger = book.ledger(event, bank_day + lag, ctx.acct[key], amount, text, ref,
                             party.legal)
        book.link(bank, ledger, "late_booking")
    for _ in range(ctx.count("early_booking")):
        key = _account_key(r, _AP_ACCOUNTS)
        party = _party_for(ctx, r, key, vendor=True)
        day = _ri(r, ctx.first, ctx.as_of)
        bank_day = day + _ri(r, *ctx.habits.early_booking_days)
        ref = _bill_ref(ctx, r, day)
        amount = ctx.amount(r, 1500.0, 1.0, ctx.currency[ctx.acct[key]], round_share=0.2)
        event = book.event("in_transit")
        bank, _label = _transfer_row(ctx, r, event, key=key, day=bank_day, amount=amount,
                                     party=party, ref=ref, incoming=False, mangle=0.0)
        text = p.ledger_texts["early"].format(name=party.legal, ref=ref)
        ledger = book.ledger(event, day, ctx.acct[key], -amount, text, ref, party.legal)
        book.link(bank, ledger, "early_booking")


def _splits_and_remittances(ctx: _Ctx) -> None:
    book, p = ctx.book, ctx.p
    _, r = ctx.rng("splits")
    for _ in range(ctx.count("split_receipt")):
        key = _account_key(r, _AR_ACCOUNTS)
        party = _party_for(ctx, r, key)
        spread = ctx.habits.split_parts
        parts = (2 if r.random() < 0.75 else 3) if spread is None else _ri(r, *spread)
        reach = (parts - 1) * ctx.habits.split_gap_days[1]
        first = _ri(r, ctx.first, ctx.as_of - max(12, reach + 2))
        ref = _invoice_ref(ctx, r, key, first)
        currency = ctx.currency[ctx.acct[key]]
        total = ctx.amount(r, 9000.0, 0.7, currency)
        unit = 10 ** (_EXPONENT[currency] + (3 if currency != "JPY" else 5))
        amounts = _split(r, total, parts, unit)
        event = book.event()
        ledger = book.ledger(event, first, ctx.acct[key], total,
                             _pick(r, p.receipt_text).format(ref=ref, name=party.legal), ref,
                             party.legal)
        day = first
        for i, amount in enumerate(amounts):
            bank, _label = _transfer_row(ctx, r, event, key=key, day=day, amount=amount,
                                         party=party, ref=ref, incoming=True,
                                         truncate_share=0.6 if i else None)
            book.link(bank, ledger, "split_receipt")
            day += _ri(r, *ctx.habits.split_gap_days)
    for _ in range(ctx.count("remittance")):
        key = _account_key(r, _AR_ACCOUNTS)
        party = _party_for(ctx, r, key)
        count = _ri(r, *ctx.habits.remittance_invoices)
        day = _ri(r, ctx.first + 3, ctx.as_of - 1)
        currency = ctx.currency[ctx.acct[key]]
        refs = [_invoice_ref(ctx, r, key, day) for _ in range(count)]
        amounts = [ctx.amount(r, 1400.0, 0.9, currency, round_share=0.3) for _ in refs]
        spread = r.random() < 0.4
        event = book.event("deposit_in_transit")
        remit = f"REMIT {count} INV {refs[0]}"
        layout = (_pick(r, p.sepa_in), "SEPA") if key == "eur" else (
            (_pick(r, p.jpy_in), "FURIKOMI") if key == "jpy" else (_pick(r, p.ach_credit), "ACH"))
        bank, _label = _transfer_row(
            ctx, r, event, key=key, day=day, amount=sum(amounts), party=party, ref=remit,
            incoming=True, mangle=0.0, layout=layout,
            placement=(("text", 0.5), ("reason", 0.3), ("nowhere", 0.2)))
        reason = ",".join(refs)[:80]
        meta = book.b["meta"][bank] or {}
        if "reason" in meta:
            meta["reason"] = reason
        for ref, amount in zip(refs, amounts, strict=True):
            ledger_day = day - (_ri(r, 0, 3) if spread else 0)
            ledger = book.ledger(event, max(ctx.first, ledger_day), ctx.acct[key], amount,
                                 _pick(r, p.receipt_text).format(ref=ref, name=party.legal),
                                 ref, party.legal)
            book.link(bank, ledger, "remittance")


def _split(r: random.Random, total: int, parts: int, unit: int) -> list[int]:
    """An invoice paid in parts: round first parts (4,000.00), the rest in the last one."""
    pieces = []
    left = total
    for i in range(parts - 1):
        target = left * r.uniform(0.3, 0.6)
        piece = int(target // unit) * unit
        if piece <= 0 or piece >= left:
            piece = int(target)
        piece = max(1, min(piece, left - (parts - 1 - i)))
        pieces.append(piece)
        left -= piece
    pieces.append(left)
    return pieces


def _wires_with_fees(ctx: _Ctx) -> None:
    book, p = ctx.book, ctx.p
    _, r = ctx.rng("wires")
    for _ in range(ctx.count("wire_out_fee")):
        key = _account_key(r, (("op", 0.75), ("eur", 0.25)))
        party = _party_for(ctx, r, key, vendor=True)
        day = _ri(r, ctx.first, ctx.as_of)
        bank_day = day + _weighted(r, ((0, 0.6), (1, 0.4)))
        ref = _bill_ref(ctx, r, day)
        currency = ctx.currency[ctx.acct[key]]
        amount = ctx.amount(r, 12000.0, 0.9, currency, round_share=0.3)
        event = book.event("in_transit")
        layout = (_pick(r, p.sepa_out), "SEPA") if key == "eur" else (_pick(r, p.wire_out), "Wire")
        bank, _label = _transfer_row(ctx, r, event, key=key, day=bank_day, amount=amount,
                                     party=party, ref=ref, incoming=False, mangle=0.0,
                                     layout=layout)
        ledger = book.ledger(event, day, ctx.acct[key], -amount,
                             p.ledger_texts["wire_out"].format(name=party.legal, ref=ref), ref,
                             party.legal)
        book.link(bank, ledger, "wire_out")
        fee_amount = _pick(r, (1500, 2000, 2500, 3000, 3500, 4500) if key == "op"
                           else (1000, 1500, 2000, 2500))
        fee = book.bank(event, date=bank_day, account=ctx.acct[key], amount=-fee_amount,
                        name=_pick(r, p.wire_fee), category="BANK_FEES")
        if r.random() < 0.5 and bank_day <= ctx.as_of:  # booked from the bank statement
            fee_ledger = book.ledger(event, bank_day, ctx.acct[key], -fee_amount,
                                     p.ledger_texts["wire_fee"].format(name=party.legal), ref,
                                     p.accounts[ctx.acct[key]].bank_name.split(" - ")[0])
            book.link(fee, fee_ledger, "wire_fee_booked")
        else:
            book.open("wire_fee_unbooked", "unmatched_bank", bank=fee)
    for _ in range(ctx.count("wire_in_fee")):
        key = _account_key(r, (("op", 0.5), ("eur", 0.25), ("jpy", 0.25)))
        party = _party_for(ctx, r, key)
        day = _ri(r, ctx.first, ctx.as_of)
        bank_day = day + _weighted(r, ((0, 0.5), (1, 0.35), (2, 0.15)))
        ref = _invoice_ref(ctx, r, key, day)
        currency = ctx.currency[ctx.acct[key]]
        amount = ctx.amount(r, 8000.0, 0.9, currency, round_share=0.4)
        if key == "jpy":
            fee, label = _pick(r, (440, 660, 770, 880)), "furikomi_fee_deducted"
        else:
            fee, label = _ri(r, 10, 35) * 100, "wire_fee_deducted"
        event = book.event("deposit_in_transit")
        layout = ((_pick(r, p.sepa_in), "SEPA") if key == "eur" else
                  (_pick(r, p.jpy_in), "FURIKOMI") if key == "jpy" else
                  (_pick(r, p.wire_in), "Wire"))
        bank, _label = _transfer_row(ctx, r, event, key=key, day=bank_day, amount=amount - fee,
                                     party=party, ref=ref, incoming=True, layout=layout)
        ledger = book.ledger(event, day, ctx.acct[key], amount,
                             _pick(r, p.receipt_text).format(ref=ref, name=party.legal), ref,
                             party.legal)
        book.link(bank, ledger, label)


# ---------------------------------------------------------------------------------------------
# Checks


def _checks(ctx: _Ctx) -> None:
    book, p = ctx.book, ctx.p
    _, r = ctx.rng("checks")
    n = ctx.count("check")
    days = sorted(_ri(r, ctx.first, ctx.as_of) for _ in range(n))
    number = 1001
    for day in days:
        party = _pick(r, p.vendors)
        delay = _weighted(r, ((_ri(r, 2, 14), 0.7), (_ri(r, 15, 45), 0.25),
                              (_ri(r, 46, 120), 0.05)))
        cleared = int(ctx.bday([day + delay], [0])[0])
        amount = ctx.amount(r, 900.0, 1.0, "USD", round_share=0.3)
        event = book.event("check_outstanding")
        num = str(number)
        number += 1 if r.random() < 0.97 else 2  # a voided check leaves a gap
        text = _pick(r, p.check_paid).format(num=num)
        bank = book.bank(event, date=cleared, account=ctx.acct["op"], amount=-amount, name=text,
                         check=num if r.random() < 0.9 else None, category="GENERAL_SERVICES")
        ref = p.check_ref.format(num=num)
        ledger = book.ledger(event, day, ctx.acct["op"], -amount,
                             p.ledger_texts["check"].format(num=num, name=party.legal), ref,
                             party.legal)
        book.link(bank, ledger, "check" if delay <= 14 else "check_slow")
    for _ in range(ctx.count("check_deposit")):
        day = _ri(r, ctx.first, ctx.as_of)
        bank_day = int(ctx.bday([day], [_weighted(r, ((0, 0.6), (1, 0.4)))])[0])
        event = book.event("deposit_in_transit")
        checks = _ri(r, 1, 5)
        rows = []
        total = 0
        for _ in range(checks):
            party = _pick(r, p.customers)
            amount = ctx.amount(r, 1100.0, 0.9, "USD", round_share=0.3)
            total += amount
            ref = _invoice_ref(ctx, r, "op", day)
            rows.append(book.ledger(event, day, ctx.acct["op"], amount,
                                    p.ledger_texts["check_received"].format(name=party.legal,
                                                                            ref=ref),
                                    ref, party.legal))
        fields = ctx.fields(r, bank_day)
        bank = book.bank(event, date=bank_day, account=ctx.acct["op"], amount=total,
                         name=_pick(r, p.check_deposit).format_map(fields),
                         category="TRANSFER_IN")
        for ledger in rows:
            book.link(bank, ledger, "check_deposit")


# ---------------------------------------------------------------------------------------------
# Payroll, rent, transfers


def _pay_days(ctx: _Ctx, semimonthly: bool) -> list[int]:
    days: list[int] = []
    if semimonthly:
        month = ctx.start.astype("datetime64[M]")
        while (month.astype("datetime64[D]") - ctx.start).astype(int) <= ctx.as_of:
            first = month.astype("datetime64[D]")
            for target in (first + np.timedelta64(14, "D"),
                           (month + np.timedelta64(1, "M")).astype("datetime64[D]")
                           - np.timedelta64(1, "D")):
                pay = np.busday_offset(target, 0, roll="preceding", holidays=ctx.holidays)
                offset = int((pay - ctx.start).astype(int))
                if ctx.first <= offset <= ctx.as_of:
                    days.append(offset)
            month = month + np.timedelta64(1, "M")
    else:
        friday = (4 - ((ctx.start.astype("datetime64[D]").view("int64") - 4) % 7)) % 7
        for offset in range(int(friday) + 7, ctx.as_of + 1, 14):
            pay = np.busday_offset(ctx.day(offset), 0, roll="preceding", holidays=ctx.holidays)
            days.append(int((pay - ctx.start).astype(int)))
    return days


def _employees(ctx: _Ctx, r: random.Random, count: int) -> list[tuple[str, str]]:
    p = ctx.p
    seen: set[tuple[str, str]] = set()
    people = []
    while len(people) < count:
        person = (_pick(r, p.first_names), _pick(r, p.last_names))
        if person in seen and len(seen) < len(p.first_names) * len(p.last_names) // 2:
            continue
        seen.add(person)
        people.append(person)
    return people


def _payroll(ctx: _Ctx) -> None:
    book, p = ctx.book, ctx.p
    _, r = ctx.rng("payroll")
    account = ctx.acct["payroll"]
    # Itemised: one bank line per employee, many with the same net pay (salary bands).
    staff = _employees(ctx, r, max(6, ctx.count("payroll_item_employees")))
    bands = [round(annual * 100 / 24 * 0.74) for annual in
             (58_000, 62_000, 65_000, 72_000, 78_000, 85_000, 92_000, 105_000, 120_000,
              135_000)]
    pay = [(_pick(r, bands) if r.random() < 0.6 else ctx.amount(r, 3300.0, 0.35, "USD"))
           for _ in staff]
    for day in _pay_days(ctx, semimonthly=True):
        date = ctx.date_of(day)
        ref = p.payroll_ref.format(y=date.year, mm=f"{date.month:02d}", dd=f"{date.day:02d}")
        event = book.event("in_transit")
        for (first, last), net in zip(staff, pay, strict=True):
            emp = f"{last} {first}".upper()[:22]
            fields = ctx.fields(r, day, emp=emp, ref=ref.replace("-", ""),
                                coid=ctx.coid_of(p.company))
            whole = _pick(r, p.payroll_item).format_map(fields)
            text, truncated = ctx.cut(r, whole)
            payee = f"{first} {last}".upper() if r.random() < 0.3 else None
            bank = book.bank(event, date=day, account=account, amount=-net, name=text,
                             meta=_meta(payee=payee, payment_method="ACH"),
                             category="TRANSFER_OUT", truncated=truncated)
            named_at = whole.find(emp)
            if payee is None and (named_at < 0 or len(text) <= named_at):
                book.wordless.add(bank)
            ledger = book.ledger(event, day, account, -net,
                                 p.ledger_texts["net_pay"].format(first=first, last=last), ref,
                                 f"{first} {last}")
            book.link(bank, ledger, "payroll_item")
        # The operating account funds the run two business days before.
        total = sum(pay)
        fund_day = max(ctx.first, int(ctx.bday([day], [-2])[0]))
        _transfer(ctx, r, fund_day, total, "op", "payroll")
        # Payroll taxes: one debit per run.
        tax = int(total * 0.31)
        tax_event = book.event("in_transit")
        fields = ctx.fields(r, day)
        bank = book.bank(tax_event, date=day, account=ctx.acct["op"], amount=-tax,
                         name=_pick(r, p.tax_payment).format_map(fields), category="GOVERNMENT")
        ledger = book.ledger(tax_event, day, ctx.acct["op"], -tax,
                             p.ledger_texts["payroll_tax"].format(ref=ref), ref,
                             p.ledger_texts["tax_authority"])
        book.link(bank, ledger, "tax_payment")
    # Batched: the payroll provider debits one total per run; the books have every employee.
    crew = _employees(ctx, r, max(4, ctx.count("payroll_batch_employees")))
    provider = p.payroll_provider
    for day in _pay_days(ctx, semimonthly=False):
        date = ctx.date_of(day)
        ref = p.payroll_ref.format(y=date.year, mm=f"{date.month:02d}", dd=f"{date.day:02d}")
        event = book.event("in_transit")
        rows = []
        total = 0
        for first, last in crew:
            net = ctx.amount(r, 1450.0, 0.3, "USD")
            total += net
            rows.append(book.ledger(event, day, account, -net,
                                    p.ledger_texts["batch_pay"].format(provider=provider.legal,
                                                                       first=first, last=last),
                                    ref, f"{first} {last}"))
        fields = ctx.fields(r, day)
        text, truncated = ctx.cut(r, _pick(r, p.payroll_batch).format_map(fields))
        bank = book.bank(event, date=day, account=account, amount=-total, name=text,
                         merchant=provider.merchant if r.random() < 0.5 else None,
                         party=provider.legal if r.random() < 0.5 else None,
                         party_type="payment_app",
                         meta=_meta(ppd_id="9138864001", payment_method="ACH"),
                         category="TRANSFER_OUT", truncated=truncated)
        for ledger in rows:
            book.link(bank, ledger, "payroll_batch")


def _transfer(ctx: _Ctx, r: random.Random, day: int, amount: int, source: str,
              target: str) -> None:
    """A transfer between two of the company's accounts. Both bank rows show the online
    banking confirmation number, which the treasurer books as the reference."""
    book, p = ctx.book, ctx.p
    event = book.event("in_transit")
    company_ref = p.transfer_ref.format(n=ctx.next("transfer", 1))
    confirmation = _token(r, "D", 11)
    src, dst = ctx.acct[source], ctx.acct[target]
    masks = {i: a.mask for i, a in enumerate(p.accounts)}
    for account, sign, template, other in ((src, -1, p.transfer_out, dst),
                                           (dst, 1, p.transfer_in, src)):
        fields = ctx.fields(r, day, mask=masks[other], conf=confirmation)
        bank = book.bank(event, date=day, account=account, amount=sign * amount,
                         name=template.format_map(fields), category="TRANSFER_OUT"
                         if sign < 0 else "TRANSFER_IN")
        ledger = book.ledger(event, day, account, sign * amount,
                             p.ledger_texts["transfer"].format(
                                 source=p.accounts[src].ledger_account,
                                 target=p.accounts[dst].ledger_account, ref=company_ref),
                             confirmation, p.company)
        book.link(bank, ledger, "transfer")


def _transfers(ctx: _Ctx) -> None:
    _, r = ctx.rng("transfers")
    # A treasury sweeps a few times a week whatever the company's size.
    for _ in range(ctx.count("transfer", exponent=0.5)):
        day = _ri(r, ctx.first, ctx.as_of)
        if not ctx.is_bday(day):
            continue
        amount = ctx.amount(r, 25000.0, 0.5, "USD", round_share=0.9)
        if r.random() < 0.5:
            _transfer(ctx, r, day, amount, "op", "payroll")
        else:
            _transfer(ctx, r, day, amount, "payroll", "op")


def _rent(ctx: _Ctx) -> None:
    book, p = ctx.book, ctx.p
    _, r = ctx.rng("rent")
    leases = [(ctx.acct["op"], landlord, 1_250_000 if i < 3 else ctx.amount(r, 9000, 0.3, "USD"))
              for i, landlord in enumerate(p.landlords)]
    leases.append((ctx.acct["eur"], _pick(r, p.eur_customers), 840_000))
    leases.append((ctx.acct["jpy"], _pick(r, p.jpy_partners), 1_650_000))
    month = ctx.start.astype("datetime64[M]")
    while (month.astype("datetime64[D]") - ctx.start).astype(int) <= ctx.as_of:
        first = int((month.astype("datetime64[D]") - ctx.start).astype(int))
        month = month + np.timedelta64(1, "M")
        if first < ctx.first:
            continue
        for account, landlord, amount in leases:
            bank_day = int(ctx.bday([first], [0])[0])
            event = book.event("in_transit")
            key = p.accounts[account].key
            ref = f"LEASE {ctx.coid_of(landlord.legal)[-4:]}"
            layout = ((_pick(r, p.sepa_out), "SEPA") if key == "eur" else
                      (_pick(r, p.jpy_out), "FURIKOMI") if key == "jpy" else
                      (_pick(r, p.ach_debit), "ACH"))
            bank, _label = _transfer_row(ctx, r, event, key=key, day=bank_day, amount=amount,
                                         party=landlord, ref=ref, incoming=False, mangle=0.0,
                                         layout=layout)
            label = ctx.date_of(first).strftime("%b %Y")
            ledger = book.ledger(event, first, account, -amount,
                                 p.ledger_texts["rent"].format(month=label, name=landlord.legal),
                                 ref, landlord.legal)
            book.link(bank, ledger, "rent")


# ---------------------------------------------------------------------------------------------
# Mismatches, duplicates, reversals, bank-only and ledger-only rows


def _typo(r: random.Random, amount: int, kind: str) -> int | None:
    digits = str(amount)
    if kind == "mismatch_transposed":
        spots = [i for i in range(len(digits) - 1) if digits[i] != digits[i + 1]]
        if not spots:
            return None
        i = _pick(r, spots)
        swapped = digits[:i] + digits[i + 1] + digits[i] + digits[i + 2:]
        return int(swapped) if not swapped.startswith("0") else None
    if kind == "mismatch_dropped_digit":
        if len(digits) < 4:
            return None
        i = r.randrange(len(digits) - 2)  # a digit of the integer part
        dropped = digits[:i] + digits[i + 1:]
        return int(dropped) if not dropped.startswith("0") else None
    if amount % 10 == 0 and r.random() < 0.5:
        return amount // 10
    return amount * 10


def _mismatches(ctx: _Ctx) -> None:
    book, p = ctx.book, ctx.p
    _, r = ctx.rng("mismatch")
    for kind in ("mismatch_transposed", "mismatch_dropped_digit", "mismatch_decimal_shift"):
        made = 0
        while made < ctx.count(kind):
            incoming = r.random() < 0.5
            key = _account_key(r, _AR_ACCOUNTS if incoming else _AP_ACCOUNTS)
            party = _party_for(ctx, r, key, vendor=not incoming)
            day = _ri(r, ctx.first, ctx.as_of - 3)
            currency = ctx.currency[ctx.acct[key]]
            amount = ctx.amount(r, 2400.0, 0.9, currency)
            wrong = _typo(r, amount, kind)
            if wrong is None or wrong == amount or wrong <= 0:
                continue
            made += 1
            ref = _invoice_ref(ctx, r, key, day) if incoming else _bill_ref(ctx, r, day)
            event = book.event()
            bank, _label = _transfer_row(ctx, r, event, key=key, day=day + _ri(r, 0, 2),
                                         amount=amount, party=party, ref=ref, incoming=incoming,
                                         mangle=0.0, placement=(("text", 0.8),
                                                                ("reference_number", 0.2)))
            sign = 1 if incoming else -1
            text = (_pick(r, p.receipt_text) if incoming else
                    _pick(r, p.payment_text)).format(ref=ref, name=party.legal)
            ledger = book.ledger(event, day, ctx.acct[key], sign * wrong, text, ref, party.legal)
            book.open(kind, "amount_mismatch", bank=bank, ledger=ledger)


def _duplicates(ctx: _Ctx) -> None:
    """Copies made after the other patterns: the bank delivers a row twice, or the books
    have a bill twice. The copy's twin (the original) keeps its link."""
    book = ctx.book
    _, r = ctx.rng("duplicates")
    one_to_one = _one_to_one_links(book, {"card_purchase", "ap_payment", "ar_reference",
                                          "ar_no_reference", "subscription"})
    r.shuffle(one_to_one)
    bank_copies = one_to_one[:ctx.count("duplicate_bank")]
    ledger_copies = one_to_one[len(bank_copies):len(bank_copies) + ctx.count("duplicate_ledger")]
    for bank, _ledger in bank_copies:
        values = {name: book.b[name][bank] for name in _BANK_FIELDS if name != "event"}
        values["meta"] = dict(values["meta"]) if values["meta"] else None
        values["date"] = min(ctx.as_of, values["date"] + _weighted(r, ((0, 0.7), (1, 0.3))))
        copy = book.bank(book.b["event"][bank], **values)
        book.open("duplicate_bank", "probable_duplicate", bank=copy, twin=bank)
    for _bank, ledger in ledger_copies:
        day = min(ctx.as_of, book.l["date"][ledger] + _weighted(r, ((0, 0.6), (1, 0.4))))
        copy = book.ledger(book.l["event"][ledger], day, book.l["account"][ledger],
                           book.l["amount"][ledger], book.l["description"][ledger],
                           book.l["reference"][ledger], book.l["counterparty"][ledger])
        book.open("duplicate_ledger", "probable_duplicate", ledger=copy, twin=ledger)


def _one_to_one_links(book: _Book, patterns: set[str]) -> list[tuple[int, int]]:
    bank_count: dict[int, int] = {}
    ledger_count: dict[int, int] = {}
    for bank, ledger, _pattern in book.links:
        bank_count[bank] = bank_count.get(bank, 0) + 1
        ledger_count[ledger] = ledger_count.get(ledger, 0) + 1
    return [(bank, ledger) for bank, ledger, pattern in book.links
            if pattern in patterns and bank_count[bank] == 1 and ledger_count[ledger] == 1
            and not book.b["pending"][bank]]


def _reversals(ctx: _Ctx) -> None:
    book, p = ctx.book, ctx.p
    _, r = ctx.rng("reversals")
    for _ in range(ctx.count("reversal_return")):
        party = _pick(r, p.vendors)
        day = _ri(r, ctx.first, ctx.as_of - 6)
        ref = _bill_ref(ctx, r, day)
        amount = ctx.amount(r, 1600.0, 0.9, "USD")
        event = book.event()
        bank, _label = _transfer_row(ctx, r, event, key="op", day=day, amount=amount,
                                     party=party, ref=ref, incoming=False, mangle=0.0,
                                     layout=(_pick(r, p.ach_debit), "ACH"))
        ledger = book.ledger(event, day, ctx.acct["op"], -amount,
                             _pick(r, p.payment_text).format(ref=ref, name=party.legal), ref,
                             party.legal)
        book.link(bank, ledger, "ap_payment")
        back = int(ctx.bday([day], [_ri(r, 2, 4)])[0])
        fields = ctx.fields(r, back, name=party.bank)
        returned = book.bank(event, date=back, account=ctx.acct["op"], amount=amount,
                             name=p.ach_return.format_map(fields),
                             meta=_meta(payment_method="ACH"), category="TRANSFER_IN")
        book.open("reversal_return", "reversal", bank=returned)
    for _ in range(ctx.count("reversal_bank_error")):
        merchant: CardMerchant = _pick(r, p.card_merchants)
        day = _ri(r, ctx.first, ctx.as_of - 2)
        amount = ctx.amount(r, merchant.median, 0.6, "USD")
        event = book.event()
        descriptor = merchant.descriptor.format_map(ctx.fields(r, day, store="0417"))[:25]
        charge = book.bank(event, date=day, account=ctx.acct["op"], amount=-amount,
                           name=f"POS PURCHASE {descriptor}", authorized=day,
                           category=_CATEGORY.get(merchant.category))
        back = book.bank(event, date=day + _ri(r, 0, 2), account=ctx.acct["op"],
                         amount=amount,
                         name=p.pos_reversal.format(desc=f"POS PURCHASE {descriptor}")[:40],
                         category="TRANSFER_IN")
        book.open("reversal_bank_error", "reversal", bank=charge)
        book.open("reversal_bank_error", "reversal", bank=back)


def _bank_only(ctx: _Ctx) -> None:
    book, p = ctx.book, ctx.p
    _, r = ctx.rng("bank-only")
    fees = {"op": 9500, "payroll": 3500, "eur": 1250, "jpy": 1100}
    month = ctx.start.astype("datetime64[M]")
    while True:
        last = (month + np.timedelta64(1, "M")).astype("datetime64[D]") - np.timedelta64(1, "D")
        day = int((np.busday_offset(last, 0, roll="preceding", holidays=ctx.holidays)
                   - ctx.start).astype(int))
        month = month + np.timedelta64(1, "M")
        if day > ctx.as_of:
            break
        for account in p.accounts:
            event = book.event()
            fee = book.bank(event, date=day, account=ctx.acct[account.key],
                            amount=-fees[account.key], name=_pick(r, p.service_fee),
                            category="BANK_FEES")
            book.open("bank_fee_service", "unmatched_bank", bank=fee)
            if account.key in ("op", "eur"):
                interest = ctx.amount(r, 180.0, 0.5, account.currency)
                bank = book.bank(event, date=day, account=ctx.acct[account.key], amount=interest,
                                 name=_pick(r, p.interest), category="INCOME_INTEREST_EARNED")
                book.open("bank_interest", "unmatched_bank", bank=bank)


def _ledger_only(ctx: _Ctx) -> None:
    book, p = ctx.book, ctx.p
    _, r = ctx.rng("ledger-only")
    for _ in range(ctx.count("ledger_only")):
        key = _account_key(r, _AR_ACCOUNTS)
        party = _party_for(ctx, r, key)
        day = _ri(r, ctx.first, ctx.as_of)
        ref = _invoice_ref(ctx, r, key, day)
        amount = ctx.amount(r, 1900.0, 1.0, ctx.currency[ctx.acct[key]], round_share=0.3)
        event = book.event()
        ledger = book.ledger(event, day, ctx.acct[key], amount,
                             _pick(r, p.receipt_text).format(ref=ref, name=party.legal), ref,
                             party.legal)
        book.open("ledger_only", "unmatched_ledger", ledger=ledger)


_PATTERNS: tuple[Callable[[_Ctx], None], ...] = (
    _card_purchases, _subscriptions, _ar_receipts, _ap_payments, _date_lags,
    _splits_and_remittances, _wires_with_fees, _checks, _payroll, _transfers, _rent,
    _mismatches, _reversals, _bank_only, _ledger_only,
)


# ---------------------------------------------------------------------------------------------
# Assembly


def generate(rows: int, profile: Profile = DEFAULT, seed: int | None = None,
             habits: Habits | None = None) -> World:
    """A world of about ``rows`` ledger rows (the card-processor sales fill up to it)."""
    if rows < 1000:
        raise ValueError("a world needs at least 1,000 ledger rows")
    seed = profile.seed if seed is None else seed
    ctx = _Ctx(profile, seed, rows, habits)
    for build in _PATTERNS:
        build(ctx)
    _duplicates(ctx)
    others = len(ctx.book.l["date"])
    _payouts(ctx, max(rows - others, int(rows * 0.1)))
    return _assemble(ctx, rows)


def _assemble(ctx: _Ctx, rows: int) -> World:
    book = ctx.book
    assert max(book.l["date"]) <= ctx.as_of, "a ledger row dated after the as-of date"
    b = {name: np.asarray(book.b[name], dtype=object) for name in _OBJECT_FIELDS}
    bank_date = np.asarray(book.b["date"], dtype=np.int64)
    bank_event = np.asarray(book.b["event"], dtype=np.int64)
    # The cut-off: an event with a bank row after as-of has not reached the bank yet.
    late_events = np.unique(bank_event[bank_date > ctx.as_of])
    dropped = np.isin(bank_event, late_events)
    link_bank = np.asarray([x[0] for x in book.links], dtype=np.int64)
    link_ledger = np.asarray([x[1] for x in book.links], dtype=np.int64)
    link_pattern = np.asarray([x[2] for x in book.links], dtype=object)
    keep_link = ~dropped[link_bank] if link_bank.size else np.zeros(0, dtype=bool)
    opens = [o for o in book.opens if o[0] < 0 or not dropped[o[0]]]
    linked_after = set(link_ledger[keep_link].tolist())
    open_ledger = {o[1] for o in opens if o[1] >= 0}
    ledger_event = np.asarray(book.l["event"], dtype=np.int64)
    for ledger in sorted(set(link_ledger[~keep_link].tolist()) - linked_after - open_ledger):
        transit = book.event_transit[int(ledger_event[ledger])]
        opens.append((-1, ledger, "ledger", "unmatched_ledger", transit, -1))
    link_bank, link_ledger, link_pattern = (link_bank[keep_link], link_ledger[keep_link],
                                            link_pattern[keep_link])

    # Order: the bank feed by date, the ledger by date (entry numbers follow the dates).
    rng, _ = ctx.rng("order")
    kept = np.flatnonzero(~dropped)
    bank_order = kept[np.lexsort((rng.random(kept.size), bank_date[kept]))]
    bank_new = np.full(bank_date.size, -1, dtype=np.int64)
    bank_new[bank_order] = np.arange(bank_order.size)
    ledger_date = np.asarray(book.l["date"], dtype=np.int64)
    ledger_order = np.lexsort((rng.random(ledger_date.size), ledger_date))
    ledger_new = np.empty(ledger_date.size, dtype=np.int64)
    ledger_new[ledger_order] = np.arange(ledger_order.size)

    bank_ids = _plaid_ids(rng, bank_order.size)
    years = (ctx.start + ledger_date[ledger_order].astype("timedelta64[D]")).astype(
        "datetime64[Y]").astype(int) + 1970
    entry_ids = [ctx.p.entry_id.format(n=i + 1, y=int(y)) for i, y in enumerate(years.tolist())]

    bank = _bank_frame(ctx, b, bank_order, bank_new, bank_ids)
    ledger = _ledger_frame(ctx, ledger_order, entry_ids)
    truncated = np.asarray(book.b["truncated"], dtype=bool)
    link_order = np.lexsort((ledger_new[link_ledger], bank_new[link_bank]))
    link_bank, link_ledger, link_pattern = (link_bank[link_order], link_ledger[link_order],
                                            link_pattern[link_order])
    links = pd.DataFrame({
        "bank_transaction_id": np.asarray(bank_ids, dtype=object)[bank_new[link_bank]],
        "ledger_entry_id": np.asarray(entry_ids, dtype=object)[ledger_new[link_ledger]],
        "pattern": link_pattern,
        "family": [FAMILY[pt] for pt in link_pattern],
        "truncated": truncated[link_bank].astype(int),
    })
    open_rows = []
    ids_b = np.asarray(bank_ids, dtype=object)
    ids_l = np.asarray(entry_ids, dtype=object)
    side_rank = {"bank": 0, "ledger": 1, "both": 2}
    opens.sort(key=lambda o: (side_rank[o[2]], bank_new[o[0]] if o[0] >= 0 else -1,
                              ledger_new[o[1]] if o[1] >= 0 else -1))
    for bank_i, ledger_i, side, kind, pattern, twin in opens:
        twin_id = ""
        if twin >= 0:
            if side == "bank" and bank_new[twin] < 0:
                continue  # the original fell past the cut-off with its copy
            twin_id = ids_b[bank_new[twin]] if side == "bank" else ids_l[ledger_new[twin]]
        open_rows.append((ids_b[bank_new[bank_i]] if bank_i >= 0 else "",
                          ids_l[ledger_new[ledger_i]] if ledger_i >= 0 else "",
                          side, kind, pattern, FAMILY[pattern], twin_id))
    truth_open = pd.DataFrame(open_rows, columns=["bank_transaction_id", "ledger_entry_id",
                                                  "side", "kind", "pattern", "family",
                                                  "twin_of"])
    counts = {"bank_rows": int(bank.shape[0]), "ledger_rows": int(ledger.shape[0]),
              "true_links": int(links.shape[0]), "expected_open": int(truth_open.shape[0])}
    return World(ctx.p, ctx.seed, rows, ctx.start, ctx.day(ctx.as_of), bank, ledger,
                 links, truth_open, counts,
                 indistinguishable(bank, ledger, ctx.p.wire_fee,
                                   [bank_ids[bank_new[i]] for i in sorted(book.wordless)
                                    if bank_new[i] >= 0]))


def indistinguishable(bank: pd.DataFrame, ledger: pd.DataFrame,
                      wordings: Sequence[str] = (),
                      wordless: Sequence[str] = ()) -> pd.DataFrame:
    """Rows equal to an earlier row of their side in every field recon could read.

    ``wordings``: bank texts drawn at random for one kind of row, whatever row of the other
    side it belongs to (a bank prints "WIRE TRANSFER FEE" or "INTL WIRE FEE" for the fee of
    any wire): they tell nothing about the pairing, so they count as one text here.
    ``wordless``: ids of bank rows whose text says nothing of their partner (a payroll debit
    cut before the employee's name, "ACME ROBOTICS INC DES:PA"): alike in the other fields,
    they stand for each other whatever their texts.
    """
    loaded = bank[~bank["removed"]]
    names = loaded["name"].where(~loaded["name"].isin(list(wordings)), wordings[0]) \
        if wordings else loaded["name"]
    names = names.where(~loaded["transaction_id"].isin(list(wordless)), "\x00wordless")
    bank_key = pd.DataFrame({
        "account": loaded["account_key"], "date": loaded["date"],
        "authorized": loaded["authorized"], "amount": loaded["amount_minor"],
        "name": names, "merchant": loaded["merchant_name"].fillna(""),
        "party": loaded["counterparty"].fillna(""),
        "meta": [json.dumps(m, sort_keys=True) if m else "" for m in loaded["payment_meta"]],
        "check": loaded["check_number"].fillna(""), "pending": loaded["pending"],
        "pending_id": loaded["pending_transaction_id"].fillna("")})
    ledger_key = ledger[["account", "date", "amount_minor", "description", "reference",
                         "counterparty"]]
    parts = []
    for side, ids, key in (("bank", loaded["transaction_id"], bank_key),
                           ("ledger", ledger["entry_id"], ledger_key)):
        group = key.groupby(list(key.columns), sort=False, dropna=False).ngroup().to_numpy()
        first = pd.Series(ids.to_numpy()).groupby(group).transform("first").to_numpy()
        same = first != ids.to_numpy()
        parts.append(pd.DataFrame({"side": side, "id": ids.to_numpy()[same],
                                   "same_as": first[same]}))
    return pd.concat(parts, ignore_index=True)


_OBJECT_FIELDS = {"name", "merchant", "party", "party_type", "meta", "check", "channel",
                  "category", "city"}


def _plaid_ids(rng: np.random.Generator, count: int) -> list[str]:
    """Plaid-shaped transaction ids: 37 case-sensitive letters and digits, all distinct."""
    alphabet = np.frombuffer(_ALNUM.encode(), dtype=np.uint8)
    while True:
        codes = alphabet[rng.integers(0, len(_ALNUM), size=(count, 37))]
        ids = codes.view("S37").ravel().astype(str).tolist()
        if len(set(ids)) == count:
            return ids


def _bank_frame(ctx: _Ctx, b: dict[str, np.ndarray], order: np.ndarray, new: np.ndarray,
                ids: list[str]) -> pd.DataFrame:
    accounts = ctx.p.accounts
    account_ids = [_account_id(ctx.p, a.key) for a in accounts]
    account = np.asarray(ctx.book.b["account"], dtype=np.int64)[order]
    pending_of = np.asarray(ctx.book.b["pending_of"], dtype=np.int64)[order]
    pending_id = [ids[new[i]] if i >= 0 and new[i] >= 0 else None for i in pending_of.tolist()]
    ids_arr = np.asarray(ids, dtype=object)
    removed = np.asarray(ctx.book.b["removed"], dtype=bool)[order]
    columns: dict[str, Any] = {
        "transaction_id": ids_arr,
        "account_id": [account_ids[a] for a in account.tolist()],
        "account_key": [accounts[a].key for a in account.tolist()],
        "currency": [accounts[a].currency for a in account.tolist()],
        "date": np.asarray(ctx.book.b["date"], dtype=np.int64)[order],
        "authorized": np.asarray(ctx.book.b["authorized"], dtype=np.int64)[order],
        "amount_minor": np.asarray(ctx.book.b["amount"], dtype=np.int64)[order],
        "name": b["name"][order], "merchant_name": b["merchant"][order],
        "counterparty": b["party"][order], "counterparty_type": b["party_type"][order],
        "payment_meta": b["meta"][order], "check_number": b["check"][order],
        "pending": np.asarray(ctx.book.b["pending"], dtype=bool)[order],
        "pending_transaction_id": pending_id, "removed": removed,
        "payment_channel": b["channel"][order], "category": b["category"][order],
        "city": b["city"][order],
    }
    # Object columns stay object: None must stay None (not NaN) for the JSON writer.
    return pd.DataFrame({name: pd.Series(values, dtype=object) if name not in _NUMERIC_COLUMNS
                         else values for name, values in columns.items()})


_NUMERIC_COLUMNS = {"date", "authorized", "amount_minor", "pending", "removed"}


def _ledger_frame(ctx: _Ctx, order: np.ndarray, entry_ids: list[str]) -> pd.DataFrame:
    book, accounts = ctx.book, ctx.p.accounts
    account = np.asarray(book.l["account"], dtype=np.int64)[order]
    return pd.DataFrame({
        "entry_id": pd.Series(entry_ids, dtype=object),
        "date": np.asarray(book.l["date"], dtype=np.int64)[order],
        "account": pd.Series([accounts[a].ledger_account for a in account.tolist()],
                             dtype=object),
        "currency": pd.Series([accounts[a].currency for a in account.tolist()], dtype=object),
        "amount_minor": np.asarray(book.l["amount"], dtype=np.int64)[order],
        "description": pd.Series(np.asarray(book.l["description"], dtype=object)[order],
                                 dtype=object),
        "reference": pd.Series(np.asarray(book.l["reference"], dtype=object)[order],
                               dtype=object),
        "counterparty": pd.Series(np.asarray(book.l["counterparty"], dtype=object)[order],
                                  dtype=object),
    })


def _account_id(profile: Profile, key: str) -> str:
    """A stable 37-character Plaid account id per profile and account."""
    r = random.Random(f"{profile.name}:{profile.seed}:{key}")
    return "".join(r.choices(_ALNUM, k=37))
