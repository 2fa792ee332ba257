"""Which ledger counterparties a bank row's text names, as evidence against an amount-only link.

A bank text that names a counterparty of the ledger ("ACH CREDIT GRAPHIC DESIGN I", "SEPA CT
COSTA SIST": a key word of one counterparty of the account, whole or cut off, 4 letters at
least; the aggregate passes' reading, ``SettlementPass._named``) says who paid. A ledger row of
another counterparty with the same amount is then a coincidence (a round 4,000.00 part of one
customer's invoice and another customer's 4,000.00 receipt), unless something else ties the
two: the same reference, or texts that agree.
"""

from __future__ import annotations

import numpy as np

from recon.engine import sets
from recon.engine.normalise import BoolArray, IntArray
from recon.engine.passes.aggregate import SettlementPass, _party_words
from recon.engine.state import MatchState

# Bank rows naming a counterparty per ledger row of it, beyond which the name says nothing
# about who paid (a customer paying one invoice in three parts: 3).
_NAMED_PER_ROW = 4


def named_parties(state: MatchState) -> tuple[IntArray, IntArray]:
    """(bank position, ledger counterparty code) for every counterparty each bank row names,
    sorted; computed once per state."""
    if state.named_parties is None:
        ledger = state.ledger
        parties = np.flatnonzero(ledger.party >= 0)
        if len(parties) == 0 or len(state.bank) == 0:
            empty = np.zeros(0, dtype=np.int64)
            state.named_parties = (empty, empty)
        else:
            named = SettlementPass._named(
                state, np.arange(len(state.bank), dtype=np.int64), _party_words(state, parties),
                state.ledger_block[parties], ledger.party[parties],
            )  # fmt: skip
            b = named["bank"].to_numpy(dtype=np.int64)
            party = named["key"].to_numpy(dtype=np.int64)
            keep = _specific(state, b, party, parties) & ~_never_on_its_rows(state, b, party)
            b, party = b[keep], party[keep]
            order = np.lexsort((party, b))
            state.named_parties = (b[order], party[order])
    return state.named_parties


def _specific(
    state: MatchState, b: IntArray, party: IntArray, ledger_rows: IntArray
) -> BoolArray:
    """Per (bank row, party) name: False for a party named by more than ``_NAMED_PER_ROW``
    bank rows per ledger row of it in the block: a name every payroll debit carries is the
    account holder's own (an ACH company name), not a payer's."""
    width = int(max(party.max(initial=0), state.ledger.party.max(initial=0))) + 1
    ledger_key = state.ledger_block[ledger_rows] * width + state.ledger.party[ledger_rows]
    bank_key = state.bank_block[b] * width + party
    keys, ledger_count = np.unique(ledger_key, return_counts=True)
    named_keys, bank_count = np.unique(bank_key, return_counts=True)
    at = np.minimum(np.searchsorted(keys, named_keys), len(keys) - 1)
    rows = np.where(keys[at] == named_keys, ledger_count[at], 0)
    ok_keys = named_keys[bank_count <= _NAMED_PER_ROW * rows]
    specific: BoolArray = np.isin(bank_key, ok_keys)
    return specific


# Links of a counterparty's ledger rows, none of them to a bank row naming it, beyond which the
# bank rows that do name it are not its payments.
_UNNAMED_LINKS = 3


def _never_on_its_rows(state: MatchState, b: IntArray, party: IntArray) -> BoolArray:
    """Per (bank row, party) name: True for a party whose ledger rows the passes so far linked
    ``_UNNAMED_LINKS`` times or more, never to a bank row naming it. Its name is then the
    account holder's own (the ACH company name on its payroll debits, "ACME ROBOTICS INC
    DES:PAYROLL", while its own rows are the transfers between its accounts), not a payer's:
    the ratio test of :func:`_specific` catches that only when such debits far outnumber the
    holder's rows."""
    ledger = state.ledger
    linked = np.flatnonzero((state.ledger_state.partner >= 0) & (ledger.party >= 0))
    if len(linked) == 0 or len(b) == 0:
        return np.zeros(len(b), dtype=bool)
    width = int(max(party.max(), ledger.party.max())) + 1
    partner = state.ledger_state.partner[linked]
    own = ledger.party[linked]
    on_its_row = sets.isin(partner * width + own, b * width + party)
    links = np.bincount(own, minlength=width)
    named_links = np.bincount(own[on_its_row], minlength=width)
    never: BoolArray = ((links >= _UNNAMED_LINKS) & (named_links == 0))[party]
    return never


def names_party(state: MatchState, b: IntArray, lg: IntArray) -> BoolArray:
    """Per pair: the bank row names the ledger row's counterparty."""
    named_b, named_party = named_parties(state)
    result: BoolArray = np.zeros(len(b), dtype=bool)
    if len(named_b) == 0:
        return result
    party = state.ledger.party[lg]
    names_any = np.zeros(len(state.bank), dtype=bool)
    names_any[named_b] = True
    ask = np.flatnonzero(names_any[b] & (party >= 0))  # only these can name the row's party
    width = int(max(named_party.max(), party.max(initial=0))) + 2
    known = named_b * width + named_party  # ascending: the pairs are in (bank, party) order
    wanted = b[ask] * width + party[ask]
    at = np.minimum(np.searchsorted(known, wanted), len(known) - 1)
    result[ask] = known[at] == wanted
    return result


def names_another_party(state: MatchState, b: IntArray, lg: IntArray) -> BoolArray:
    """Per pair: the bank row names some counterparty of the ledger, and not the ledger row's."""
    named_b, _ = named_parties(state)
    names_any = np.zeros(len(state.bank), dtype=bool)
    names_any[named_b] = True
    result: BoolArray = names_any[b] & ~names_party(state, b, lg)
    return result
