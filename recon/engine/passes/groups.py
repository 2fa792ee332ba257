"""Group passes (``kind: groups``): one row against several rows of the other side.

A bank deposit is grouped with the open ledger rows whose sum it is (a card processor's payout
and its sales, less a fee line), and a ledger entry with the bank rows that together pay it (an
invoice paid in parts); the search itself is :func:`recon.engine.groups.find_groups`. Example: a
970.00 STRIPE deposit on 10 March and four Stripe sales of 400.00, 350.00, 250.00 and -30.00 from
8-9 March are one group, ``matched`` when no other subset of the pool fits. With
``reference_only``, only rows carrying the target's reference are pooled (a payout id on the
deposit and on each sale), so such payouts are grouped before amount-only rules can take a sale.

Whichever group pass makes them, group links say rule ``group``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recon.config import GroupSearch
from recon.engine import explain
from recon.engine.groups import Group, find_day_groups, find_groups
from recon.engine.normalise import BoolArray, IntArray, filled, key_word
from recon.engine.passes.names import named_parties
from recon.engine.passes.parts import round_counts
from recon.engine.scoring import pair_parts, score_parts, total_score
from recon.engine.state import AlternativeBatch, DayWindow, Found, LinkBatch, MatchState
from recon.records import Status

RULE = "group"


@dataclass(frozen=True)
class GroupPass:
    settings: GroupSearch

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def window(self) -> DayWindow:
        return DayWindow(self.settings.days_before, self.settings.days_after)

    def run(self, state: MatchState) -> Found:
        bank_open = state.bank_state.free & ~state.bank_state.held
        ledger_open = state.ledger_state.free & ~state.ledger_state.held
        if self.settings.pools == "booking_day":
            bank_open[named_parties(state)[0]] = False  # a deposit naming a customer is theirs
            groups = find_day_groups(
                state.bank, state.ledger, bank_open, ledger_open, state.bank_block,
                state.ledger_block, self.settings, _mostly_linked(state),
            )  # fmt: skip
        else:
            groups = find_groups(
                state.bank, state.ledger, bank_open, ledger_open, state.bank_block,
                state.ledger_block, self.settings,
            )  # fmt: skip
        chance_rows = self.settings.max_chance_rows
        groups = [
            g for g in groups
            if len(g.members) <= chance_rows or g.chance_fits <= self.settings.max_chance_fits
        ]  # fmt: skip
        return self._found(state, groups) if groups else Found()

    def _found(self, state: MatchState, groups: list[Group]) -> Found:
        """Each group's links (one match id), scored and explained together."""
        bank, ledger = state.bank, state.ledger
        link_b, link_l, link_group, notes, statuses, group_ids = [], [], [], [], [], []
        differences, target_amounts = [], []
        alternatives: list[tuple[IntArray, IntArray, int]] = []
        # Round amounts among a group's members make its fit suspect (below).
        of_bank = [k for k, g in enumerate(groups) if g.target_is_bank]
        of_ledger = [k for k, g in enumerate(groups) if not g.target_is_bank]
        round_amounts = np.zeros(len(groups), dtype=np.int64)
        round_amounts[of_bank] = round_counts([groups[k].members for k in of_bank], ledger)
        round_amounts[of_ledger] = round_counts([groups[k].members for k in of_ledger], bank)
        for index, group in enumerate(groups):
            size = len(group.members)
            target = np.full(size, group.target, dtype=np.int64)
            # Members are distinct positions, so each side's distinct rows need no np.unique.
            if group.target_is_bank:
                b, lg = target, group.members
                bank_rows, ledger_rows = target[:1], group.members
            else:
                b, lg = group.members, target
                bank_rows, ledger_rows = group.members, target[:1]
            group_ids.append(explain.match_id(bank.ids[bank_rows], ledger.ids[ledger_rows]))
            bank_sum = int(bank.amount[bank_rows].sum())
            ledger_sum = int(ledger.amount[ledger_rows].sum())
            difference = bank_sum - ledger_sum
            by_chance = group.chance_fits > self.settings.max_chance_fits
            unsure = [group.unsure] if group.unsure else []
            if round_amounts[index] >= 2 and group.chance_fits > 0:  # not a same-reference pool
                unsure.append(f"{round_amounts[index]} of its amounts are round (sums of round "
                              "amounts fit many targets)")  # fmt: skip
            sure = not group.options and not by_chance and not unsure
            status = Status.MATCHED if sure else Status.SUGGESTED
            if status == Status.MATCHED and difference != 0:
                status = Status.MATCHED_WITH_DIFFERENCE
            chance = group.chance_fits if by_chance else None
            currency = str(bank.currency[b[0]])
            notes.append(
                explain.group_note(
                    size, len(bank_rows), len(ledger_rows), bank_sum, currency, chance,
                    len(group.options), group.pool or _shared_key(state, group),
                )
                + "".join(f"; suggested: {reason}" for reason in unsure)
            )
            for option in group.options:
                other = np.full(len(option), group.target, dtype=np.int64)
                alternatives.append(
                    (other, option, index) if group.target_is_bank else (option, other, index)
                )
            link_b.append(b)
            link_l.append(lg)
            link_group.append(np.full(size, index, dtype=np.int64))
            statuses.append(status.value)
            differences.append(difference)
            target_amounts.append(max(abs(bank_sum), abs(ledger_sum), 1))
        # One scoring call for every group's links together.
        b, lg, at = np.concatenate(link_b), np.concatenate(link_l), np.concatenate(link_group)
        difference_of = np.array(differences, dtype=np.int64)
        values = score_parts(pair_parts(bank, ledger, b, lg), ledger, 0.0)
        # A group's amount part is how close its sums are, the same on each of its links.
        closeness = 1.0 - np.minimum(
            np.abs(difference_of) / np.array(target_amounts, dtype=np.float64), 1.0
        )
        values["amount"] = closeness[at]
        score = total_score(values)
        ids = np.array(group_ids, dtype=object)
        links = LinkBatch(
            bank=b,
            ledger=lg,
            match_id=ids[at],
            status=np.array(statuses, dtype=object)[at],
            rule=filled(len(b), RULE),
            score=score,
            amount_difference=difference_of[at],
            parts=values,
            notes=np.array(notes, dtype=object)[at],
        )
        if not alternatives:
            return Found(links=links)
        group_score = np.bincount(at, weights=score) / np.bincount(at)
        first = np.r_[0, np.cumsum([len(x) for x in link_b])[:-1]]
        winner_b, winner_l = np.minimum.reduceat(b, first), np.minimum.reduceat(lg, first)
        owner = np.concatenate([np.full(len(x[0]), x[2], dtype=np.int64) for x in alternatives])
        return Found(
            links=links,
            alternatives=AlternativeBatch(
                match_id=ids[owner],
                bank=np.concatenate([x[0] for x in alternatives]),
                ledger=np.concatenate([x[1] for x in alternatives]),
                score=group_score[owner],
                winner_bank=winner_b[owner],
                winner_ledger=winner_l[owner],
            ),
        )


# A kind of ledger row (its description's first word) with at least this many rows, this share
# of them linked already, is one the bank pays otherwise than in nameless deposits.
_KIND_ROWS = 20
_KIND_LINKED = (4, 5)


def _mostly_linked(state: MatchState) -> BoolArray:
    """Per ledger row: its kind is mostly linked already (four in five: "Receipt ..." rows, each
    paid by a transfer naming its customer). Its few open rows are stragglers, and their sums
    fitting a nameless deposit are chance; checks paid in together are not linked before."""
    word = state.ledger.word
    has = word >= 0
    result: BoolArray = np.zeros(len(word), dtype=bool)
    if not has.any():
        return result
    size = int(word.max()) + 1
    total = np.bincount(word[has], minlength=size)
    linked = np.bincount(word[has & (state.ledger_state.partner >= 0)], minlength=size)
    mostly = (total >= _KIND_ROWS) & (linked * _KIND_LINKED[1] >= total * _KIND_LINKED[0])
    result[has] = mostly[word[has]]
    return result


def _shared_key(state: MatchState, group: Group) -> str:
    """What pooled a group's rows, said in its explanation: the reference every ledger row of
    it carries ("rows carrying reference ST-Q4X9M2B7KD1P"), else the party all its rows share
    ("rows of STRIPE"); "" when neither holds for every row."""
    bank, ledger = state.bank, state.ledger
    target = np.array([group.target], dtype=np.int64)
    bank_rows, ledger_rows = (
        (target, group.members) if group.target_is_bank else (group.members, target)
    )
    if len(ledger.named_reference):
        own = np.unique(ledger.named_reference[ledger_rows])
        if len(own) == 1 and own[0] >= 0 and bool(
            (bank.named_reference[bank_rows] == own[0]).all()
        ):
            return f"rows carrying reference {ledger.reference_names[own[0]]}"
    parties = np.unique(np.r_[bank.party[bank_rows], ledger.party[ledger_rows]])
    if len(parties) == 1 and parties[0] >= 0:
        # The text is counterparty + " " + description: its first key word is the party's.
        text = str(ledger.texts[ledger.text_code[int(ledger_rows[0])]])
        return f"rows of {key_word(text)}"
    return ""

