"""Behaviours translated from other reconciliation tools' test suites, run through recon.

Every tuning case of tests/bankworld/cases (the hold-out ones are left out on purpose) runs
through recon's real config and file path. ``PASSING`` is a ratchet: the cases listed must keep
passing; a case not listed must still fail, so that whoever makes it pass adds it here.
"""

from __future__ import annotations

import pytest
from bankworld.cases import Case, load_cases, run_case

PASSING = [
    "bci_check_number_two_months_later",
    "bci_one_charge_four_order_lines",
    "bci_date_lag_three_days",
    "bci_group_leaves_cancelling_pair_out",
    "bci_amount_one_cent_apart",
    "bci_conflicting_references_block_match",
    "erpnext_linked_payment_by_party",
    "erpnext_two_transfers_one_party",
    "erpnext_deposit_not_linked_to_a_payment",
    "erpnext_reference_number_reconciles",
    "erpnext_party_name_word_order",
    "erpnext_close_party_names_stay_suggested",
    "erpnext_transfer_received_amount",
    "erpnext_fee_deducted_from_deposit",
    "lerian_tolerance_at_the_absolute_limit",
    "lerian_amount_outside_tolerance",
    "lerian_date_window_boundary_inclusive",
    "lerian_currency_must_agree",
    "lerian_reference_case_insensitive",
    "lerian_tied_candidates_decided_the_same_way",
    "lerian_one_to_many_full_coverage",
    "odoo_open_items_of_a_partner_add_up",
    "odoo_reference_in_the_reference_field",
    "odoo_partner_name_in_communication",
    "odoo_similar_communications",
    "odoo_exact_single_item_beats_a_group",
    "odoo_invoice_number_in_label",
    "odoo_reference_without_partner_write_off",
]

CASES = load_cases(holdout=False)


def test_the_case_collection() -> None:
    everything = load_cases(holdout=None)
    held_out = [c for c in everything if c.holdout]
    assert len(everything) >= 24 and len(held_out) == 8
    assert {c.source["repo"] for c in everything} == {
        "jbms/beancount-import", "frappe/erpnext", "odoo/odoo", "LerianStudio/matcher"}
    for case in everything:
        assert case.source["file"] and case.source["test"] and case.behaviour, case.id
        assert case.holdout == (case.file == "holdout.yaml"), case.id
    assert set(PASSING) <= {c.id for c in CASES}, "PASSING names an unknown or hold-out case"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case) -> None:
    outcome = run_case(case)
    if case.id in PASSING:
        assert outcome.passed, f"{case.id} no longer passes: " + "; ".join(outcome.problems)
    else:
        assert not outcome.passed, f"{case.id} passes now: add it to PASSING"
