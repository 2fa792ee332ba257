"""The matching passes: what a pass is, and the pass list built from config.

A pass is one matching step with a name, a date window and ``run(state) -> Found``; it reads
the :class:`~recon.engine.state.MatchState` (what the passes before it left open) and returns
what it found, which the state records. ``matching.passes`` in config.yaml lists them in the
order they run. To add a step: write its module here (a class with ``name``, ``window`` and
``run``), give it a settings model with its own ``kind`` in recon.config's ``PassSettings``,
add its case to :func:`build_passes`, and list it in config.yaml.
"""

from __future__ import annotations

from typing import Protocol, assert_never

from recon.config import (
    CheckRule,
    DifferenceTolerance,
    GroupSearch,
    HoldDuplicates,
    MatchingConfig,
    MatchRule,
    MismatchRule,
    PartialPayments,
    ReferenceTotals,
    Remittances,
    SettlementTotals,
    TransferFees,
)
from recon.engine.passes.aggregate import PartialPaymentPass, ReferenceTotalPass, SettlementPass
from recon.engine.passes.checks import CheckPass
from recon.engine.passes.difference import DifferencePass
from recon.engine.passes.duplicates import HoldDuplicatesPass
from recon.engine.passes.groups import GroupPass
from recon.engine.passes.mismatch import MismatchPass
from recon.engine.passes.remittances import RemittancePass
from recon.engine.passes.rules import RulePass
from recon.engine.passes.transfer_fees import TransferFeePass
from recon.engine.state import DayWindow, Found, MatchState


class Pass(Protocol):
    """One matching step."""

    @property
    def name(self) -> str:
        """Unique among the passes: progress and errors name the pass by it."""

    @property
    def window(self) -> DayWindow:
        """How many days apart the rows it pairs may be (reach_days is the widest of these)."""

    def run(self, state: MatchState) -> Found:
        """What the pass finds among the rows ``state`` has open; the state is not changed."""


def build_passes(matching: MatchingConfig) -> list[Pass]:
    """The configured passes, in the configured order.

    A rule's priority (a score part) falls with its place among the rules: 1 for the first,
    then 1 - k / (number of rules).
    """
    rules = sum(isinstance(p, MatchRule) for p in matching.passes)
    rank = 0
    passes: list[Pass] = []
    for settings in matching.passes:
        match settings:
            case MatchRule():
                passes.append(RulePass(settings, 1.0 - rank / rules))
                rank += 1
            case CheckRule():
                passes.append(CheckPass(settings))
            case GroupSearch():
                passes.append(GroupPass(settings))
            case HoldDuplicates():
                passes.append(HoldDuplicatesPass(settings, matching.duplicate_window_days))
            case TransferFees():
                passes.append(TransferFeePass(settings))
            case DifferenceTolerance():
                passes.append(DifferencePass(settings))
            case MismatchRule():
                passes.append(MismatchPass(settings))
            case SettlementTotals():
                passes.append(SettlementPass(settings))
            case ReferenceTotals():
                passes.append(ReferenceTotalPass(settings))
            case PartialPayments():
                passes.append(PartialPaymentPass(settings))
            case Remittances():
                passes.append(RemittancePass(settings))
            case _:
                assert_never(settings)
    return passes


def reach_days(matching: MatchingConfig) -> int:
    """The most days any pass, or the classification of what is left, looks across: how far
    before a window its rows' partners can lie."""
    windows = [p.window.reach for p in build_passes(matching)]
    return max([*windows, matching.duplicate_window_days, matching.reversal_window_days])
