"""config.yaml, validated into frozen objects.

Secrets never live in the file: it names the environment variables (``*_env``) or files
(``*_file``) that hold them. Any value can be overridden by an environment variable
``RECON_<SECTION>__<KEY>`` (double underscore between levels), e.g.
``RECON_STATE__DATABASE_URL=postgresql+psycopg://...`` or ``RECON_REPORTS__OUTPUT_DIR=/srv/out``.
Every problem is reported at once with its key path (:class:`recon.errors.ConfigError`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from recon.errors import ConfigError
from recon.money import CURRENCY_EXPONENTS

ENV_PREFIX = "RECON_"
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
EnvName = Annotated[
    str, Field(pattern=_ENV_NAME.pattern, description="an environment variable name")
]
Money = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]

# Key names that would hold a secret value if someone pasted one into the file.
_SECRET_KEY = re.compile(r"(secret|password|passwd|token|api_key|private_key|client_id)$", re.I)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RetryPolicy(Frozen):
    max_attempts: int = Field(6, ge=1, le=20)
    base_delay_seconds: float = Field(0.5, ge=0)
    max_delay_seconds: float = Field(30.0, ge=0)


class PlaidConfig(Frozen):
    environment: Literal["emulator", "sandbox", "production"] = "emulator"
    host: str | None = Field(None, description="base URL override, without a trailing slash")
    client_id_env: EnvName = "PLAID_CLIENT_ID"
    # The name of the environment variable that holds the secret, not a secret itself.
    secret_env: EnvName = "PLAID_SECRET"  # noqa: S105
    timeout_seconds: float = Field(30.0, gt=0, le=600)
    sync_page_size: int = Field(500, ge=1, le=500)
    max_sync_restarts: int = Field(3, ge=1, le=20)
    max_token_age_hours: float = Field(24.0, gt=0)
    retry: RetryPolicy = RetryPolicy()
    emulator_fixtures: Path | None = Field(
        None, description="fixtures for the bundled emulator; None = generated demo data"
    )

    @field_validator("host")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        if value is not None:
            if not re.match(r"^https?://", value):
                raise ValueError("must start with http:// or https://")
            if value.endswith("/"):
                raise ValueError("must not end with '/' (plaid-python appends the path)")
        return value


class SecretsConfig(Frozen):
    token_key_env: EnvName = Field(
        "RECON_TOKEN_KEY",
        description="env var holding the access-token encryption key(s), comma-separated, "
        "newest first; or <NAME>_FILE naming a file that holds them",
    )


class AccountMapping(Frozen):
    plaid_account_id: str = Field(min_length=1)
    ledger_account: str = Field(min_length=1)
    currency: str = Field("USD", description="default currency for ledger rows of this account")
    name: str | None = None

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        code = value.strip().upper()
        if code not in CURRENCY_EXPONENTS:
            raise ValueError(f"unknown ISO 4217 currency {value!r}")
        return code


class CsvOptions(Frozen):
    delimiter: str = Field(",", min_length=1, max_length=1)
    encoding: str = "utf-8"
    decimal_separator: Literal[".", ","] = "."
    thousands_separator: Literal[",", ".", " ", "'"] | None = None
    date_format: str = "%Y-%m-%d"

    @model_validator(mode="after")
    def _separators_differ(self) -> CsvOptions:
        if self.thousands_separator == self.decimal_separator:
            raise ValueError("thousands_separator must differ from decimal_separator")
        return self


class XlsxOptions(Frozen):
    sheet: str | None = Field(
        None, description="sheet name; None = the active (shown) sheet; a hidden one only by name"
    )
    header_row: int = Field(1, ge=1)
    date_format: str = Field("%Y-%m-%d", description="for dates stored as text cells")


class SqlOptions(Frozen):
    url_env: EnvName = "RECON_LEDGER_DATABASE_URL"
    table: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
    query: str | None = Field(
        None, description="SELECT with :start and :end bound parameters for the window"
    )

    @model_validator(mode="after")
    def _table_or_query(self) -> SqlOptions:
        if (self.table is None) == (self.query is None):
            raise ValueError("set exactly one of 'table' or 'query'")
        if self.query is not None and (":start" not in self.query or ":end" not in self.query):
            raise ValueError("'query' must use the :start and :end parameters for the window")
        return self


class ColumnMapping(Frozen):
    entry_id: str = "entry_id"
    date: str = "date"
    amount: str | None = "amount"
    debit: str | None = None
    credit: str | None = None
    currency: str | None = None
    description: str | None = "description"
    reference: str | None = None
    counterparty: str | None = None
    account: str | None = "account"

    @model_validator(mode="after")
    def _amount_or_debit_credit(self) -> ColumnMapping:
        has_pair = self.debit is not None and self.credit is not None
        if self.amount is None and not has_pair:
            raise ValueError("map either 'amount' or both 'debit' and 'credit'")
        if self.amount is not None and (self.debit is not None or self.credit is not None):
            raise ValueError("map 'amount' or 'debit'+'credit', not both")
        return self


class LedgerConfig(Frozen):
    source: Literal["csv", "xlsx", "sql"] = "csv"
    path: Path | None = Field(None, description="file for csv/xlsx; None in the demo = generated")
    columns: ColumnMapping = ColumnMapping()
    # Which direction a positive ledger amount is. A cash-account ledger export usually says
    # positive = money into the bank account ('money_in'); a debit-column export the same.
    positive_is: Literal["money_in", "money_out"] = "money_in"
    default_account: str | None = Field(None, description="when there is no account column")
    on_invalid: Literal["fail", "quarantine"] = "fail"
    csv: CsvOptions = CsvOptions()
    xlsx: XlsxOptions = XlsxOptions()
    sql: SqlOptions | None = None

    @model_validator(mode="after")
    def _source_options(self) -> LedgerConfig:
        if self.source in ("csv", "xlsx") and self.path is None:
            pass  # the demo fills it in; pipeline checks before reading
        if self.source == "sql" and self.sql is None:
            raise ValueError("source 'sql' needs a 'sql' section (url_env and table or query)")
        return self


def by_known_currency(value: dict[str, Decimal]) -> dict[str, Decimal]:
    """``value`` keyed by upper-case ISO 4217 codes; an unknown code is an error."""
    unknown = sorted(c for c in value if c.strip().upper() not in CURRENCY_EXPONENTS)
    if unknown:
        raise ValueError(f"unknown ISO 4217 currency {', '.join(map(repr, unknown))}")
    return {c.strip().upper(): amount for c, amount in value.items()}


PassName = Annotated[str, Field(min_length=1, pattern=r"^[a-z0-9_]+$")]
WindowDays = Annotated[int, Field(ge=0, le=366)]


class MatchRule(Frozen):
    """A one-to-one pass: a bank row and a ledger row whose amounts, dates and texts agree.

    ``kind`` says how candidates are found: ``reference`` (the same reference on both sides),
    ``amount`` (the same amount) or ``tolerance`` (amounts within the tolerance).
    """

    kind: Literal["reference", "amount", "tolerance"]
    name: PassName
    status: Literal["matched", "matched_with_difference", "suggested"] = "matched"
    amount_tolerance: Money = Field(Decimal(0), description="absolute, in currency units")
    amount_tolerance_percent: Money = Field(Decimal(0), le=100)
    # |bank - ledger| <= max(amount_tolerance, amount_tolerance_percent of the base), inclusive,
    # in whole minor units rounded down; the base is the larger of the two amounts (or one side).
    percent_of: Literal["bank", "ledger", "larger"] = "larger"
    days_before: WindowDays = Field(0, description="bank date earlier than ledger date")
    days_after: WindowDays = Field(3, description="bank date later than ledger date")
    bank_date: Literal["posted", "authorized"] = "posted"
    # Only bank rows whose authorized date is another day than the posted one (a card purchase
    # posted days after its swipe): the others are the posted-date rules' to take, and a second
    # look at them would only guess again among the look-alikes those rules left open.
    authorized_only: bool = False
    same_account: bool = True
    same_currency: bool = True
    description_regex: str | None = None
    min_text_similarity: float | None = Field(None, ge=0, le=100)
    # The bank row naming the ledger row's counterparty (a key word of its name, whole or cut
    # off) meets min_text_similarity too: "SEPA CREDIT TRANSFER NOVAK" for Novak s.r.o.
    named_party: bool = False

    @field_validator("description_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _tolerance_fits_kind(self) -> MatchRule:
        exact = self.amount_tolerance == 0 and self.amount_tolerance_percent == 0
        if self.kind == "amount" and not exact:
            raise ValueError("kind 'amount' compares amounts exactly: use kind 'tolerance'")
        if self.kind == "tolerance" and exact:
            raise ValueError("kind 'tolerance' needs amount_tolerance or amount_tolerance_percent")
        return self


class GroupSearch(Frozen):
    """Groups: one row whose amount is the sum of 2 to ``max_group_size`` rows of the other side
    (a payout and its sales, an invoice paid in parts), found by an exact subset-sum search."""

    kind: Literal["groups"] = "groups"
    name: PassName
    reference_only: bool = Field(
        False, description="only pools of rows that carry the target's reference"
    )
    # party: pools of rows naming the target's party or reference. booking_day: deposits naming
    # nobody, against pools of ledger rows of one booking day and one first description word
    # (several customers' checks paid in as one DEPOSIT).
    pools: Literal["party", "booking_day"] = "party"
    max_group_size: int = Field(20, ge=2, le=64)
    # A larger pool waits: its fit could not be shown unique (40 at most: 2 halves of 2**20
    # sums). A fit in a booking_day pool of more than 24 rows is only suggested (its chance of
    # fitting by coincidence is not well estimated).
    max_candidates: int = Field(24, ge=2, le=40)
    days_before: WindowDays = 7
    days_after: WindowDays = 3
    # The sum may differ from the target by this much (inclusive; whole minor units, rounded down).
    amount_tolerance: Money = Decimal(0)
    # A work budget per (account, currency) partition (half per direction), not a time limit:
    # the same cut on any machine.
    max_subset_sums: int = Field(200_000_000, ge=1)
    # A unique fit this likely by chance is only suggested (a shared reference is evidence).
    max_chance_fits: float = Field(0.05, ge=0)
    # A fit likely by chance (above max_chance_fits) of more rows than this is no suggestion:
    # the more rows, the more subsets of a pool sum to an amount; the rows stay open.
    max_chance_rows: int = Field(64, ge=2)


class TransferFees(Frozen):
    """A bank's charge for a transfer, booked in the ledger on any day with the transfer's
    reference ("Wire fee Blue Shield" with PO 57319, booked from the month's statement): the
    bank's fee line of that amount from the transfer's bank day to ``fee_days`` later. The
    transfer's own ledger row, linked before this pass, tells the day. The fee line may be
    ``days_before`` days earlier than the ledger row or ``days_after`` days later."""

    kind: Literal["transfer_fees"] = "transfer_fees"
    name: PassName
    fee_days: WindowDays = 1
    days_before: WindowDays = Field(45, description="bank date earlier than ledger date")
    days_after: WindowDays = Field(10, description="bank date later than ledger date")


class HoldDuplicates(Frozen):
    """Exact copies of linked rows (``duplicate_window_days``) sit out the passes after this one;
    they are reported as probable duplicates instead of being linked to something else."""

    kind: Literal["hold_duplicates"] = "hold_duplicates"
    name: PassName


class DifferenceTolerance(Frozen):
    """A pair outside the clean rules but within this is matched_with_difference (e.g. a fee):
    amounts within max(``amount``, ``percent`` of the larger amount) (inclusive, whole minor
    units rounded down), texts alike."""

    kind: Literal["difference"] = "difference"
    name: PassName
    amount: Money = Decimal("5.00")
    # ``amount`` is in each row's own currency (50.00 is 50 yen on a JPY account); these
    # replace it per currency (JPY: "1000": a Japanese bank's transfer fee of up to 880 yen).
    amount_by_currency: dict[str, Money] = Field(default_factory=dict)
    percent: Money = Field(Decimal("1.0"), le=100)
    percent_of: Literal["bank", "ledger", "larger"] = "larger"
    days_before: WindowDays = 1
    days_after: WindowDays = 5
    min_text_similarity: float = Field(70.0, ge=0, le=100)
    # Only money in that arrived short (a fee deducted by the sender's or an intermediary bank).
    deducted_only: bool = False
    # The bank row naming the ledger row's counterparty counts as texts alike.
    named_party: bool = False
    # Only pairs whose bank row names the ledger row's reference: specific enough to run before
    # the mismatch and subset searches, which would otherwise take either row.
    reference_only: bool = False

    @field_validator("amount_by_currency")
    @classmethod
    def _currencies_known(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        return by_known_currency(value)


class MismatchRule(Frozen):
    """Same reference (or counterparty and alike texts) and date, different amount: reported as
    an amount_mismatch naming both rows, not linked. Amounts one keying slip apart (transposed
    digits, a dropped digit, a decimal shift) need less: the same reference or counterparty, or
    texts ``slip_text_similarity`` alike."""

    kind: Literal["mismatch"] = "mismatch"
    name: PassName
    days_window: WindowDays = 5
    min_text_similarity: float = Field(85.0, ge=0, le=100)
    slip_text_similarity: float = Field(50.0, ge=0, le=100)
    # Only pairs one keying slip apart: specific enough to run before the subset searches.
    slips_only: bool = False


class CheckRule(Frozen):
    """A paid check: a bank row with a check number (Plaid's ``check_number``, or "CHECK 1043"
    in its description) and a ledger row with the same number (its reference, or "Check 1043"
    in its description), cleared up to ``days_after`` days after the ledger date. Same amount:
    matched; another amount: an amount_mismatch naming both."""

    kind: Literal["check"] = "check"
    name: PassName
    days_before: WindowDays = 3
    days_after: WindowDays = 180


class FeeTolerance(Frozen):
    """How far a group's ledger sum may exceed its bank amount as a processor's fee: up to
    max(``fee_amount``, ``fee_percent`` of the bank amount), inclusive. The fee is what the
    ledger rows sum to minus what the bank shows (a payout arrives less its fee, a batch debit
    leaves plus its fee); 0 means exact sums only."""

    fee_amount: Money = Field(Decimal(0), description="absolute, in currency units")
    fee_percent: Money = Field(Decimal(0), le=100, description="percent of the bank amount")
    # A few rows summing near an amount is common by chance; a processor's day is many sales.
    fee_min_rows: int = Field(
        10, ge=1, description="rows a group needs for a fee left as the difference"
    )


class SettlementTotals(FeeTolerance):
    """All open ledger rows of one counterparty (or one description word) from one run of sale
    days sum to one bank row whose text names that counterparty: a card processor's payout of a
    day's (or a weekend's) sales, a payroll provider's one debit for every employee's net pay.

    The bank row is ``lag_min``..``lag_max`` business days (Monday to Friday) after the last
    sale day; the sales of one payout span at most ``span_days`` calendar days, or
    ``wide_span_days`` in a last round over what the others left.
    """

    kind: Literal["settlement"] = "settlement"
    name: PassName
    key: Literal["counterparty", "description"] = Field(
        "counterparty", description="what the ledger rows of one group share"
    )
    counterparties: tuple[str, ...] = Field(
        (), description="only these ledger counterparties (their first word); empty: any"
    )
    lag_min: WindowDays = 0
    lag_max: WindowDays = 3
    span_days: int = Field(7, ge=1, le=62)
    wide_span_days: int | None = Field(
        None, ge=1, le=62,
        description="a last round allows runs this long, at the fee rates and lags the rounds "
        "before learned (a small processor paying a fortnight of sales at once); none: no "
        "such round",
    )
    min_rows: int = Field(2, ge=1)
    fee_rate_spread: Money = Field(
        Decimal("0.5"), le=100,
        description="percentage points a fee left as the difference may stray from the "
        "processor's usual rate (the median of its fits in this run)",
    )
    fee_row_days: WindowDays = Field(
        3, description="a fee row of the ledger this many days from the bank row joins the group"
    )
    deposits_only: bool = Field(
        False, description="only bank rows paying money in (a customer's remittance), not "
        "debits whose rows sum to them by chance",
    )

    @model_validator(mode="after")
    def _lags_ordered(self) -> SettlementTotals:
        if self.lag_min > self.lag_max:
            raise ValueError("lag_min is after lag_max")
        return self


class ReferenceTotals(FeeTolerance):
    """All open ledger rows carrying a reference that one bank row names sum to it (a payout
    id on the deposit and on each sale; the processor's fee row with the same id joins)."""

    kind: Literal["reference_totals"] = "reference_totals"
    name: PassName
    days_before: WindowDays = Field(3, description="bank date earlier than ledger date")
    days_after: WindowDays = Field(14, description="bank date later than ledger date")
    span_days: WindowDays = Field(
        31, description="days the rows of one reference may spread over, the last within the "
        "window (a payout of a month's sales)",
    )
    min_rows: int = Field(2, ge=1)
    fee_rate_spread: Money = Field(
        Decimal("0.5"), le=100,
        description="percentage points the fee of a deposit that names no reference, only the "
        "counterparty of a reference's rows, may stray from that counterparty's usual rate",
    )


class PartialPayments(Frozen):
    """One ledger row paid by 2..``max_parts`` bank rows naming its reference or counterparty
    within its window (an invoice paid in parts): exactly one subset of its 2 x ``max_parts``
    nearest such bank rows sums to it. With ``allow_remainder``, bank rows naming the ledger
    row's reference that pay less than all of it are linked as suggested, the rest named open;
    without it, only parts summing to the whole amount are linked."""

    kind: Literal["partial_payments"] = "partial_payments"
    name: PassName
    days_before: WindowDays = Field(0, description="bank date earlier than ledger date")
    days_after: WindowDays = Field(14, description="bank date later than ledger date")
    # Instalments a month apart carry the invoice number: a part naming the reference may
    # come this much later; one naming only the payer, within ``days_after``.
    named_days_after: WindowDays = Field(
        45, description="bank date later than ledger date, for parts naming the reference"
    )
    max_parts: int = Field(6, ge=2, le=12)
    allow_remainder: bool = False


class Remittances(Frozen):
    """One bank row paying 2..``max_parts`` ledger rows (a transfer paying several invoices):
    the open ledger rows of the counterparty it names, or carrying references it names, within
    the window, that sum to it exactly (two or three among all of them, more among the
    2 x ``max_parts`` nearest). Confirmed when the only fit and unlikely by chance
    (``max_chance_fits``), or naming more of the invoices than any other fit, and naming an
    invoice or holding at most one round amount; else suggested. ``deposits_only``: money in."""

    kind: Literal["remittances"] = "remittances"
    name: PassName
    days_before: WindowDays = Field(1, description="bank date earlier than ledger date")
    days_after: WindowDays = Field(6, description="bank date later than ledger date")
    max_parts: int = Field(6, ge=2, le=12)
    max_chance_fits: float = Field(0.05, ge=0)
    deposits_only: bool = True


PASS_KINDS: Final = (
    "reference",
    "check",
    "amount",
    "tolerance",
    "groups",
    "hold_duplicates",
    "transfer_fees",
    "difference",
    "mismatch",
    "settlement",
    "reference_totals",
    "partial_payments",
    "remittances",
)
PassSettings = Annotated[
    MatchRule
    | CheckRule
    | GroupSearch
    | HoldDuplicates
    | TransferFees
    | DifferenceTolerance
    | MismatchRule
    | SettlementTotals
    | ReferenceTotals
    | PartialPayments
    | Remittances,
    Field(discriminator="kind"),
]

# The passes config.yaml ships, in its order (a test holds the two equal).
DEFAULT_PASSES: Final[tuple[PassSettings, ...]] = (
    MatchRule(kind="reference", name="exact_reference", days_before=3, days_after=10),
    ReferenceTotals(
        name="reference_totals", fee_amount=Decimal("1.00"), fee_percent=Decimal("12")
    ),
    SettlementTotals(
        name="settlement_totals", lag_min=0, lag_max=4, wide_span_days=15, min_rows=10,
        fee_amount=Decimal("1.00"), fee_percent=Decimal("6"),
    ),
    SettlementTotals(name="batch_totals", key="description", lag_min=0, lag_max=1, min_rows=3),
    SettlementTotals(
        name="remittance_totals", lag_min=0, lag_max=3, span_days=4, min_rows=2,
        deposits_only=True,
    ),
    CheckRule(name="checks"),
    GroupSearch(name="reference_groups", reference_only=True),
    MatchRule(kind="reference", name="late_reference", days_before=45, days_after=30),
    TransferFees(name="transfer_fees"),
    MatchRule(kind="amount", name="exact_amount", days_before=1, days_after=4),
    MatchRule(kind="amount", name="swipe_day", bank_date="authorized", authorized_only=True,
              days_before=0, days_after=1),
    MatchRule(
        kind="tolerance",
        name="tolerance",
        amount_tolerance=Decimal("0.05"),
        amount_tolerance_percent=Decimal("0.1"),
        min_text_similarity=70,
        days_before=2,
        days_after=5,
    ),
    HoldDuplicates(name="hold_duplicates"),
    DifferenceTolerance(
        name="named_fees", amount=Decimal("50.00"), amount_by_currency={"JPY": Decimal("1000")},
        percent=Decimal("0.5"), deducted_only=True, reference_only=True,
    ),
    PartialPayments(name="partial_payments"),
    Remittances(name="remittances"),
    MatchRule(
        kind="amount",
        name="fuzzy_text",
        min_text_similarity=75,
        named_party=True,
        days_before=14,
        days_after=14,
        status="suggested",
    ),
    MismatchRule(name="keying_slips", slips_only=True),
    GroupSearch(name="groups", max_chance_rows=6),
    GroupSearch(
        name="deposits", pools="booking_day", max_group_size=8, max_candidates=40,
        days_before=0, days_after=4,
    ),
    DifferenceTolerance(name="difference"),
    DifferenceTolerance(
        name="deducted_fees", amount=Decimal("50.00"), amount_by_currency={"JPY": Decimal("1000")},
        percent=Decimal("0.5"), deducted_only=True, named_party=True,
    ),
    MismatchRule(name="mismatch"),
)
_REPLACED_KEYS: Final = ("rules", "groups", "difference", "mismatch")


class MatchingConfig(Frozen):
    """The matching passes, in the order they run, and the settings they share."""

    passes: tuple[PassSettings, ...] = Field(DEFAULT_PASSES, min_length=1)
    reference_pattern: str = Field(
        r"\b(?:INV|INVOICE|PO|REF)[-#: ]?\s*([A-Z0-9][A-Z0-9-]{2,})\b",
        description="regex whose first group extracts a reference from a description",
    )
    ambiguity_margin: float = Field(0.05, ge=0, le=1)
    duplicate_window_days: WindowDays = 1
    # A ledger row booked this many days before the as-of date or later may still clear: an
    # exact copy of a linked row that recent is open (in transit), not a probable duplicate.
    clearing_days: WindowDays = 4
    reversal_window_days: WindowDays = 5

    @model_validator(mode="before")
    @classmethod
    def _no_replaced_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            found = [key for key in _REPLACED_KEYS if key in data]
            if found:
                raise ValueError(
                    f"{', '.join(found)}: replaced by one ordered list, 'passes' (see the "
                    "shipped config.yaml)"
                )
        return data

    @field_validator("reference_pattern")
    @classmethod
    def _one_group(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        if compiled.groups < 1:
            raise ValueError("needs one capturing group for the reference")
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> MatchingConfig:
        names = [p.name for p in self.passes]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"pass names must be unique: {', '.join(dupes)}")
        return self


class ScheduleConfig(Frozen):
    cron: str = Field("30 2 * * *", description="minute hour day month day_of_week")
    timezone: str = "UTC"
    misfire_grace_seconds: int = Field(3600, ge=1)
    window_days: int = Field(35, ge=1, le=731, description="days reconciled up to the as-of date")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError("needs 5 fields: minute hour day month day_of_week")
        return value


class ReportsConfig(Frozen):
    output_dir: Path = Path("var/reports")
    formats: tuple[Literal["xlsx", "html", "csv", "json"], ...] = ("xlsx", "html", "csv", "json")


class OpeningBalance(Frozen):
    """The balance per books of one ledger account at the end of ``date`` (house sign)."""

    date: date
    amount: Annotated[Decimal, Field(allow_inf_nan=False)]


class JournalAccounts(Frozen):
    """Offsetting accounts for the journal entries the statement proposes (names or codes)."""

    bank_charges: str = Field("6100 Bank charges", min_length=1)
    interest_income: str = Field("4100 Interest income", min_length=1)
    differences: str = Field("6150 Payment differences", min_length=1)
    suspense: str = Field("1999 Suspense", min_length=1)


class StatementConfig(Frozen):
    """The bank reconciliation statement: balances, functional currency, proposed entries."""

    functional_currency: str = "USD"
    # Units of the functional currency for one unit of each other currency (e.g. JPY: 0.0067).
    # An account currency without a rate is reported as such; its items are listed last.
    fx_rates: dict[str, Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]] = {}
    # Balance per books by ledger account, rolled forward with the ledger rows after its date.
    opening_balances: dict[str, OpeningBalance] = {}
    # A trial balance CSV (columns account, date, balance): the balance per books straight from
    # the general ledger, so a posting missing from the ledger export shows as a difference.
    books_balance_file: Path | None = None
    # For a SQL ledger: a SELECT of one number, the general ledger's balance of :account at the
    # end of :as_of (currency units, money into the bank account positive).
    books_balance_query: str | None = None
    journal_accounts: JournalAccounts = JournalAccounts()
    fee_pattern: str = r"(?i)\b(fees?|charges?|commission)\b"
    interest_pattern: str = r"(?i)\binterest\b"
    # A pending bank row and an unmatched ledger entry of the same amount this close are one item.
    pending_pair_days: int = Field(5, ge=0, le=60)

    @field_validator("functional_currency")
    @classmethod
    def _functional_known(cls, value: str) -> str:
        code = value.strip().upper()
        if code not in CURRENCY_EXPONENTS:
            raise ValueError(f"unknown ISO 4217 currency {value!r}")
        return code

    @field_validator("fx_rates")
    @classmethod
    def _rates_known(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        return by_known_currency(value)

    @field_validator("books_balance_query")
    @classmethod
    def _query_parameters(cls, value: str | None) -> str | None:
        if value is not None and (":account" not in value or ":as_of" not in value):
            raise ValueError("must use the :account and :as_of parameters")
        return value

    @field_validator("fee_pattern", "interest_pattern")
    @classmethod
    def _pattern_compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    def rate(self, currency: str) -> Decimal | None:
        """Functional units per unit of ``currency``; None when config gives no rate."""
        return Decimal(1) if currency == self.functional_currency else self.fx_rates.get(currency)


class AlertThreshold(Frozen):
    count: int | None = Field(None, ge=0, description="open discrepancies above this alert")
    total_amount: dict[str, Money] | None = Field(
        None, description="per currency: alert when the absolute open amount exceeds it"
    )

    @field_validator("total_amount")
    @classmethod
    def _known_currencies(cls, value: dict[str, Decimal] | None) -> dict[str, Decimal] | None:
        if value is None:
            return None
        unknown = sorted(c for c in value if c.strip().upper() not in CURRENCY_EXPONENTS)
        if unknown:
            raise ValueError(f"unknown ISO 4217 currency {', '.join(map(repr, unknown))}")
        return {c.strip().upper(): amount for c, amount in value.items()}
    oldest_age_days: int | None = Field(None, ge=0)


class EmailAlert(Frozen):
    smtp_host: str
    smtp_port: int = Field(587, ge=1, le=65535)
    starttls: bool = True
    username_env: EnvName | None = None
    password_env: EnvName | None = None
    sender: str
    recipients: tuple[str, ...] = Field(min_length=1)
    timeout_seconds: float = Field(10.0, gt=0)


class WebhookAlert(Frozen):
    url_env: EnvName = Field(description="env var holding the webhook URL (it embeds a secret)")
    timeout_seconds: float = Field(10.0, gt=0)


class AlertsConfig(Frozen):
    threshold: AlertThreshold = AlertThreshold()
    email: EmailAlert | None = None
    webhook: WebhookAlert | None = None
    retries: int = Field(3, ge=1, le=10)


class SyncQueueConfig(Frozen):
    """Retries of queued syncs: exponential backoff with jitter, then the dead-letter table."""

    max_attempts: int = Field(5, ge=1, le=50)
    base_delay_seconds: float = Field(30.0, ge=0)
    max_delay_seconds: float = Field(3600.0, ge=0)
    poll_seconds: float = Field(15.0, gt=0, description="how often the worker looks for due jobs")


class WebhooksConfig(Frozen):
    """``recon webhooks serve``: where it listens, what Plaid is told, and its bounds."""

    public_url: str | None = Field(
        None, description="the https URL Plaid posts webhooks to (reaches `path` on this server)"
    )
    listen_host: str = "127.0.0.1"
    port: int = Field(8787, ge=1, le=65535)
    path: str = Field("/plaid/webhook", pattern=r"^/[A-Za-z0-9/_-]*$")
    max_body_bytes: int = Field(65_536, ge=1024, le=10 * 1024 * 1024)
    max_requests_per_second: float = Field(20.0, gt=0, description="all senders together")
    max_requests_per_second_per_client: float = Field(5.0, gt=0)
    event_retention_days: int = Field(30, ge=1)
    queue: SyncQueueConfig = SyncQueueConfig()

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http(s) URL")
        return value


PseudonymField = Literal["payee", "counterparty", "account_owner", "account_id", "mask",
                         "description"]


class ExportConfig(Frozen):
    """``recon export``: the night's links and discrepancies for a warehouse or an auditor."""

    output_dir: Path = Path("var/exports")
    key_env: EnvName = Field(
        "RECON_EXPORT_KEY",
        description="env var holding the pseudonym key(s), comma-separated, newest first; "
        "or <NAME>_FILE naming a file that holds them",
    )
    pseudonymize: tuple[PseudonymField, ...] = (
        "payee", "counterparty", "account_owner", "account_id", "mask", "description",
    )


class StateConfig(Frozen):
    database_url: str = "sqlite:///var/recon.db"
    lock_file: Path = Path("var/recon.lock")
    metrics_file: Path | None = Path("var/metrics/recon.prom")
    log_file: Path | None = Path("var/log/recon.log")


class ExecutionConfig(Frozen):
    """Where the engine runs: in this process (``local``), or cut into (account, currency)
    partitions on a local process pool (``processes``) or a Dask cluster (``dask``)."""

    executor: Literal["local", "processes", "dask"] = "local"
    workers: int = Field(2, ge=1, le=1024, description="processes, or a LocalCluster's workers")
    # A running Dask scheduler (tcp://host:8786); unset: a LocalCluster of ``workers`` processes.
    # The variable named by scheduler_env wins over this value.
    scheduler: str | None = Field(None, pattern=r"^(tcp|tls|inproc|ucx)://[^\s@]+$")
    scheduler_env: EnvName = "RECON_DASK_SCHEDULER"
    retries: int = Field(2, ge=0, le=10, description="new tries of a partition whose worker died")

    def scheduler_address(self, environ: Mapping[str, str] | None = None) -> str | None:
        found = (os.environ if environ is None else environ).get(self.scheduler_env, "").strip()
        return found or self.scheduler


class Config(Frozen):
    plaid: PlaidConfig = PlaidConfig()
    secrets: SecretsConfig = SecretsConfig()
    accounts: tuple[AccountMapping, ...] = ()
    ledger: LedgerConfig = LedgerConfig()
    matching: MatchingConfig = MatchingConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    reports: ReportsConfig = ReportsConfig()
    alerts: AlertsConfig = AlertsConfig()
    state: StateConfig = StateConfig()
    statement: StatementConfig = StatementConfig()
    webhooks: WebhooksConfig = WebhooksConfig()
    export: ExportConfig = ExportConfig()
    execution: ExecutionConfig = ExecutionConfig()

    @model_validator(mode="after")
    def _unique_accounts(self) -> Config:
        ids = [a.plaid_account_id for a in self.accounts]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"accounts: plaid_account_id listed twice: {', '.join(dupes)}")
        return self

    @model_validator(mode="after")
    def _statement_covers_accounts(self) -> Config:
        known = {a.ledger_account for a in self.accounts}
        problems = [f"statement.opening_balances: {name!r} is not a ledger_account in accounts"
                    for name in sorted(set(self.statement.opening_balances) - known)]
        if self.statement.books_balance_query is not None and self.ledger.source != "sql":
            problems.append("statement.books_balance_query: needs a SQL ledger (ledger.source "
                            "sql), whose database it asks")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def fingerprint(self) -> str:
        """A hash of the effective configuration, recorded on every run."""
        # Where the engine runs changes no result: a night's hash is the same on any executor.
        settings = self.model_dump(mode="json", exclude={"execution"})
        canonical = json.dumps(settings, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def resolve_paths(self, base: Path) -> Config:
        """Relative paths in the file are relative to the file's folder (or the working dir)."""

        def fix(path: Path | None) -> Path | None:
            if path is None:
                return None
            return path if path.is_absolute() else base / path

        url = self.state.database_url
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            rel = url.removeprefix("sqlite:///")
            if rel and rel != ":memory:":
                url = "sqlite:///" + str(base / rel)
        return self.model_copy(
            update={
                "plaid": self.plaid.model_copy(
                    update={"emulator_fixtures": fix(self.plaid.emulator_fixtures)}
                ),
                "ledger": self.ledger.model_copy(update={"path": fix(self.ledger.path)}),
                "statement": self.statement.model_copy(
                    update={"books_balance_file": fix(self.statement.books_balance_file)}
                ),
                "reports": self.reports.model_copy(
                    update={"output_dir": fix(self.reports.output_dir) or self.reports.output_dir}
                ),
                "export": self.export.model_copy(
                    update={"output_dir": fix(self.export.output_dir) or self.export.output_dir}
                ),
                "state": self.state.model_copy(
                    update={
                        "database_url": url,
                        "lock_file": fix(self.state.lock_file) or self.state.lock_file,
                        "metrics_file": fix(self.state.metrics_file),
                        "log_file": fix(self.state.log_file),
                    }
                ),
            }
        )


def _format_loc(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for previous, part in zip((None, *loc), loc, strict=False):
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif part.startswith(("function-", "constrained-")) or part in {"str", "int", "float"}:
            continue  # pydantic's internal branch names say nothing to a user
        elif isinstance(previous, int) and part in PASS_KINDS:
            continue  # the union's tag: the entry's own kind
        else:
            parts.append(("." if parts else "") + part)
    return "".join(parts) or "(top level)"


def _plaintext_secret_problems(data: Any, path: str = "") -> list[str]:
    """Refuse secrets pasted into the file: a secret-looking key holding a value."""
    problems: list[str] = []
    if isinstance(data, Mapping):
        for key, value in data.items():
            here = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _SECRET_KEY.search(key) and isinstance(value, str):
                problems.append(
                    f"{here}: looks like a secret written into the file; put it in an "
                    f"environment variable and name it with '{key}_env' instead"
                )
            else:
                problems.extend(_plaintext_secret_problems(value, here))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            problems.extend(_plaintext_secret_problems(value, f"{path}[{index}]"))
    return problems


# scheme://user:password@host — a password inside a URL is a secret like any other.
_URL_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#@\s]*:[^/?#@\s]*@")


def _url_credential_problems(data: Any, path: str = "") -> list[str]:
    """Refuse URLs that carry a password, in the file or in a RECON_* override."""
    if isinstance(data, Mapping):
        return [p for key, value in data.items()
                for p in _url_credential_problems(value, f"{path}.{key}" if path else str(key))]
    if isinstance(data, list):
        return [p for index, value in enumerate(data)
                for p in _url_credential_problems(value, f"{path}[{index}]")]
    if isinstance(data, str) and _URL_PASSWORD.match(data):
        return [f"{path}: the URL holds a password; remove it (PostgreSQL reads PGPASSWORD or "
                "~/.pgpass) so no secret sits in the configuration"]
    return []


def _apply_env_overrides(data: dict[str, Any], environ: Mapping[str, str]) -> list[str]:
    problems: list[str] = []
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        keys = [k.lower() for k in name.removeprefix(ENV_PREFIX).split("__")]
        if not all(keys):
            problems.append(f"{name}: empty key in the environment override")
            continue
        node = data
        for key in keys[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                problems.append(f"{name}: {'.'.join(keys)} is not a section")
                break
            node = child
        else:
            try:
                node[keys[-1]] = yaml.safe_load(raw) if raw else raw
            except yaml.YAMLError:
                node[keys[-1]] = raw
    return problems


def parse_config(
    data: Any, *, source: str = "config", environ: Mapping[str, str] | None = None
) -> Config:
    """Validate already-parsed YAML (plus ``RECON_*__*`` overrides) into a :class:`Config`."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(["(top level): expected a mapping of sections"], source)
    problems = _plaintext_secret_problems(data)
    problems += _apply_env_overrides(data, os.environ if environ is None else environ)
    problems += _url_credential_problems(data)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False):
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{_format_loc(tuple(error['loc']))}: {message}")
        raise ConfigError(problems, source) from None
    if problems:
        raise ConfigError(problems, source)
    return config


def load_config(path: Path, *, environ: Mapping[str, str] | None = None) -> Config:
    """Read, validate and resolve a config.yaml; raises ConfigError listing every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"cannot read the file: {exc.strerror}"], str(path)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError([f"{where}not valid YAML"], str(path)) from None
    config = parse_config(data, source=str(path), environ=environ)
    return config.resolve_paths(path.resolve().parent)
