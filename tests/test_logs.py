import io
import json
import logging

import pytest

from recon.logs import Redactor, mask_card_numbers, setup_logging

SECRET = "canary-plaid-secret-9f8e7d6c"


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    monkeypatch.setenv("PLAID_SECRET", SECRET)
    stream = io.StringIO()
    setup_logging(stream=stream)
    return stream


def test_secret_from_the_environment_is_masked_everywhere(captured: io.StringIO) -> None:
    log = logging.getLogger("recon.test")
    log.info("calling with %r", {"secret": SECRET})
    try:
        raise RuntimeError(f"boom {SECRET}")
    except RuntimeError:
        log.exception("failed")
    text = captured.getvalue()
    assert SECRET not in text
    assert text.count("[REDACTED]") >= 2


def test_plaid_tokens_and_card_numbers_are_masked(captured: io.StringIO) -> None:
    token = "access-sandbox-8ab976e6-64bc-4b38-98f7-731e7a349970"
    logging.getLogger("recon.test").warning(
        "token %s card 4111 1111 1111 1111 and 4012-8888-8888-1881 and 5500000000000004", token
    )
    text = captured.getvalue()
    assert "8ab976e6" not in text
    assert "4111 1111" not in text and "411111111111" not in text
    assert "************1111" in text and "************1881" in text
    assert "************0004" in text


def test_one_record_is_one_line_even_with_injected_newlines(captured: io.StringIO) -> None:
    logging.getLogger("recon.test").info("desc %s", "x\n2025-01-01 INFO fake line\x1b[31m")
    lines = captured.getvalue().splitlines()
    assert len(lines) == 1
    assert 'msg="desc x\\n2025-01-01 INFO fake line' in lines[0]
    assert "\\x1b" in lines[0] and "\x1b" not in lines[0]


def test_json_lines_carry_run_id_and_extras() -> None:
    stream = io.StringIO()
    setup_logging(stream=stream, json_lines=True)
    from recon.logs import set_run_id

    set_run_id("run-123")
    logging.getLogger("recon.test").info("synced", extra={"item_id": "abc", "added": 3})
    record = json.loads(stream.getvalue())
    assert record["run_id"] == "run-123" and record["item_id"] == "abc" and record["added"] == 3
    set_run_id("-")


def test_registered_values_are_masked() -> None:
    Redactor.register_secret_value("decrypted-token-value-123")
    assert "decrypted-token-value-123" not in Redactor.redact("x decrypted-token-value-123 y")


def test_short_digit_runs_are_not_card_numbers() -> None:
    assert mask_card_numbers("invoice 123456789012 paid") == "invoice 123456789012 paid"
    assert mask_card_numbers("4111111111111111") == "************1111"
