"""A restarted emulator with a state file still honours the tokens it issued (as a bank would)."""

import json
from pathlib import Path

from recon.plaid.emulator import Emulator

HEADERS = {"PLAID-CLIENT-ID": "cid", "PLAID-SECRET": "sec", "Content-Type": "application/json"}
FIXTURES = {"items": [{"item_id": "I" * 37, "institution_id": "ins_109508", "accounts": [
    {"account_id": "A" * 37, "name": "Checking", "type": "depository", "subtype": "checking",
     "balances": {"current": 10, "available": 10, "iso_currency_code": "USD"}}],
    "transactions": []}]}


def _call(emulator: Emulator, path: str, body: dict) -> tuple[int, dict]:
    status, raw = emulator.handle(path, HEADERS, json.dumps(body).encode())
    return status, json.loads(raw)


def _link(emulator: Emulator) -> str:
    _, created = _call(emulator, "/sandbox/public_token/create",
                       {"institution_id": "ins_109508", "initial_products": ["transactions"]})
    _, exchanged = _call(emulator, "/item/public_token/exchange",
                         {"public_token": created["public_token"]})
    return str(exchanged["access_token"])


def test_tokens_survive_a_restart_and_only_hashes_are_kept(tmp_path: Path) -> None:
    state = tmp_path / "emulator.state.json"
    first = Emulator(FIXTURES, client_id="cid", secret="sec", state_path=state)
    token = _link(first)
    assert token not in state.read_text()

    second = Emulator(FIXTURES, client_id="cid", secret="sec", state_path=state)
    assert _call(second, "/accounts/get", {"access_token": token})[0] == 200
    status, rotated = _call(second, "/item/access_token/invalidate", {"access_token": token})
    assert status == 200

    third = Emulator(FIXTURES, client_id="cid", secret="sec", state_path=state)
    assert _call(third, "/accounts/get", {"access_token": token})[1]["error_code"] == (
        "INVALID_ACCESS_TOKEN")
    assert _call(third, "/accounts/get", {"access_token": rotated["new_access_token"]})[0] == 200


def test_without_a_state_file_a_restart_forgets_tokens() -> None:
    token = _link(Emulator(FIXTURES, client_id="cid", secret="sec"))
    fresh = Emulator(FIXTURES, client_id="cid", secret="sec")
    assert _call(fresh, "/accounts/get", {"access_token": token})[0] == 400
