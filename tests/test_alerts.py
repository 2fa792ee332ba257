"""Alerts against a real local SMTP server and a real local HTTP receiver, with canary secrets."""

from __future__ import annotations

import base64
import http.server
import json
import logging
import socket
import socketserver
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from recon.alerts import (
    AlertMessage,
    build_discrepancy_alert,
    build_failure_alert,
    build_relink_alert,
    send_alerts,
)
from recon.config import AlertsConfig, EmailAlert, WebhookAlert

pytestmark = pytest.mark.timeout(30)

# --- a minimal SMTP server (RFC 5321 subset: EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT) ---------


@dataclass
class SmtpInbox:
    messages: list[bytes] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)


class _SmtpHandler(socketserver.StreamRequestHandler):
    inbox: SmtpInbox

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 test-smtp ESMTP")
        while line := self.rfile.readline():
            command = line.decode().rstrip("\r\n")
            verb = command.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250-test-smtp")
                self.reply("250-AUTH PLAIN")
                self.reply("250 8BITMIME")
            elif verb == "AUTH":
                _mech, initial = command.split(" ")[1:3]
                _authzid, user, password = base64.b64decode(initial).decode().split("\0")
                self.inbox.logins.append((user, password))
                self.reply("235 2.7.0 Authentication successful")
            elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                self.inbox.messages.append(data)
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, SmtpInbox]]:
    inbox = SmtpInbox()
    handler = type("Handler", (_SmtpHandler,), {"inbox": inbox})
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], inbox
    server.shutdown()
    server.server_close()


# --- a local webhook receiver ----------------------------------------------------------------


@dataclass
class WebhookInbox:
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # replies to give, then 200


@pytest.fixture
def webhook_server() -> Iterator[tuple[int, WebhookInbox]]:
    inbox = WebhookInbox()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            inbox.requests.append((self.path, dict(self.headers), body))
            status = inbox.statuses.pop(0) if inbox.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], inbox
    server.shutdown()
    server.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Canaries:
    webhook_url_secret: str
    smtp_password: str
    access_token: str
    pan: str = "4111 1111 1111 1111"

    def all(self) -> list[str]:
        return [self.webhook_url_secret, self.smtp_password, self.access_token,
                self.pan, self.pan.replace(" ", "")]


@pytest.fixture
def canaries() -> Canaries:
    return Canaries(
        webhook_url_secret=f"T0CANARY/B0CANARY/{uuid.uuid4().hex}",
        smtp_password=f"CANARY-SMTP-{uuid.uuid4().hex}",
        access_token=f"access-sandbox-{uuid.uuid4()}",
    )


def _alerts_config(smtp_port: int, *, retries: int = 3, timeout: float = 5.0) -> AlertsConfig:
    return AlertsConfig(
        email=EmailAlert(
            smtp_host="127.0.0.1", smtp_port=smtp_port, starttls=False,
            username_env="RECON_TEST_SMTP_USER", password_env="RECON_TEST_SMTP_PASSWORD",
            sender="recon@example.com", recipients=("finance@example.com", "ops@example.com"),
            timeout_seconds=timeout,
        ),
        webhook=WebhookAlert(url_env="RECON_TEST_WEBHOOK_URL", timeout_seconds=timeout),
        retries=retries,
    )


def _leaky_message(c: Canaries, webhook_url: str) -> AlertMessage:
    return AlertMessage(
        subject=f"recon run failed for token {c.access_token}",
        text=f"sync failed; posted to {webhook_url} with password {c.smtp_password}; "
        f"description 'CARD {c.pan}'",
        severity="critical",
        fields={"run_id": "run-42", "exit_code": "69", "detail": c.access_token},
    )


def _log_dump(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(repr(record.__dict__) for record in caplog.records)


def test_email_and_webhook_arrive_without_secrets(
    smtp_server: tuple[int, SmtpInbox],
    webhook_server: tuple[int, WebhookInbox],
    canaries: Canaries,
    caplog: pytest.LogCaptureFixture,
) -> None:
    smtp_port, mailbox = smtp_server
    http_port, hooks = webhook_server
    webhook_url = f"http://127.0.0.1:{http_port}/services/{canaries.webhook_url_secret}"
    environ = {
        "RECON_TEST_SMTP_USER": "recon-mailer",
        "RECON_TEST_SMTP_PASSWORD": canaries.smtp_password,
        "RECON_TEST_WEBHOOK_URL": webhook_url,
    }
    caplog.set_level(logging.DEBUG)

    deliveries = send_alerts(
        _alerts_config(smtp_port), _leaky_message(canaries, webhook_url), environ=environ
    )

    assert [(d.channel, d.ok, d.attempts, d.error) for d in deliveries] == [
        ("email", True, 1, None), ("webhook", True, 1, None)]
    # The SMTP login used the password from the environment (it is meant to travel there only).
    assert mailbox.logins == [("recon-mailer", canaries.smtp_password)]

    assert len(mailbox.messages) == 1
    raw_mail = mailbox.messages[0]
    mail = message_from_bytes(raw_mail, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    assert mail["Subject"].startswith("[recon critical] recon run failed for token access-sandbox-")
    assert mail["To"] == "finance@example.com, ops@example.com"
    body = mail.get_content()
    assert "run_id: run-42" in body
    assert "exit_code: 69" in body
    assert "CARD ************1111" in body

    assert len(hooks.requests) == 1
    path, headers, raw_hook = hooks.requests[0]
    assert path == f"/services/{canaries.webhook_url_secret}"  # the URL was used, not shown
    assert headers["Content-Type"].startswith("application/json")
    payload = json.loads(raw_hook)
    assert payload["text"].startswith(":rotating_light: *recon run failed for token")
    assert "run_id: run-42" in payload["text"]
    assert payload["blocks"][2]["fields"][0] == {"type": "mrkdwn", "text": "*run_id*\nrun-42"}

    everything = "\n".join([raw_mail.decode(), raw_hook.decode(), _log_dump(caplog),
                            repr(deliveries)])
    for secret in canaries.all():
        assert secret not in everything
    assert "[REDACTED]" in body  # the webhook URL and password inside the text were masked


def test_dead_receivers_are_retried_then_given_up(
    canaries: Canaries, caplog: pytest.LogCaptureFixture
) -> None:
    dead_port = _closed_port()
    webhook_url = f"http://127.0.0.1:{dead_port}/services/{canaries.webhook_url_secret}"
    environ = {
        "RECON_TEST_SMTP_USER": "recon-mailer",
        "RECON_TEST_SMTP_PASSWORD": canaries.smtp_password,
        "RECON_TEST_WEBHOOK_URL": webhook_url,
    }
    caplog.set_level(logging.DEBUG)

    deliveries = send_alerts(
        _alerts_config(dead_port, retries=3), _leaky_message(canaries, webhook_url),
        environ=environ, deadline_seconds=20.0,
    )

    assert [(d.channel, d.ok, d.attempts) for d in deliveries] == [
        ("email", False, 3), ("webhook", False, 3)]
    assert deliveries[0].error == "ConnectionRefusedError"
    assert deliveries[1].error == "URLError"
    failures = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert {getattr(r, "channel", None) for r in failures} == {"email", "webhook"}
    dump = _log_dump(caplog)
    # The receiver's address is not logged (its port alone could be any number in a timestamp).
    for secret in [*canaries.all(), f"127.0.0.1:{dead_port}", f":{dead_port}/"]:
        assert secret not in dump


def test_deadline_bounds_a_receiver_that_never_answers(canaries: Canaries) -> None:
    # Accepts connections but never speaks: the SMTP greeting and the HTTP reply never come.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        environ = {"RECON_TEST_SMTP_USER": "u", "RECON_TEST_SMTP_PASSWORD": "p" * 8,
                   "RECON_TEST_WEBHOOK_URL": f"http://127.0.0.1:{port}/hook"}
        config = _alerts_config(port, retries=3, timeout=60.0)
        message = AlertMessage("s", "t", "info", {})

        deliveries = send_alerts(config, message, environ=environ, deadline_seconds=0.5)

    # Per-channel timeouts are 60 s; only the overall deadline can have ended the wait.
    assert [(d.channel, d.ok, d.error) for d in deliveries] == [
        ("email", False, "DeadlineExceeded"), ("webhook", False, "DeadlineExceeded")]


def test_webhook_retries_server_errors_but_not_client_errors(
    webhook_server: tuple[int, WebhookInbox]
) -> None:
    http_port, hooks = webhook_server
    config = AlertsConfig(webhook=WebhookAlert(url_env="HOOK"), retries=3)
    environ = {"HOOK": f"http://127.0.0.1:{http_port}/hook"}
    message = AlertMessage("s", "t", "warning", {"k": "v"})

    hooks.statuses = [503]
    (delivery,) = send_alerts(config, message, environ=environ)
    assert (delivery.ok, delivery.attempts) == (True, 2)

    hooks.statuses = [404]
    (delivery,) = send_alerts(config, message, environ=environ)
    assert (delivery.ok, delivery.attempts, delivery.error) == (False, 1, "HTTPError:404")
    assert len(hooks.requests) == 3


def test_webhook_refuses_plain_http_off_this_machine_and_missing_env() -> None:
    config = AlertsConfig(webhook=WebhookAlert(url_env="HOOK"), retries=3)
    message = AlertMessage("s", "t", "info", {})
    (plain,) = send_alerts(config, message, environ={"HOOK": "http://hooks.example.com/T0/B0/x"})
    assert (plain.ok, plain.attempts, plain.error) == (False, 1, "InvalidWebhookURL")
    (missing,) = send_alerts(config, message, environ={})
    assert (missing.ok, missing.error) == (False, "MissingEnvironmentVariable:HOOK")
    assert send_alerts(AlertsConfig(), message, environ={}) == []


def test_discrepancy_failure_and_relink_alerts() -> None:
    breaches = ["26 open discrepancies (threshold 25)"]
    alert = build_discrepancy_alert(
        run_id="r1", as_of=date(2025, 3, 9), open_count=26,
        open_amount_by_currency={"USD": Decimal("-10000.01"), "JPY": Decimal("5")},
        oldest_age_days=31, breaches=breaches, report_location="var/reports/2025-03-09",
    )
    assert alert.severity == "warning"
    assert alert.subject == "recon 2025-03-09: 26 open discrepancies need review"
    assert alert.fields["open_amount"] == "5 JPY, 10000.01 USD"
    assert "- 26 open discrepancies (threshold 25)" in alert.text

    failed = build_failure_alert(run_id="r2", exit_code=69, reason="Plaid unavailable",
                                 as_of=date(2025, 3, 9), step="sync")
    assert (failed.severity, failed.fields["step"], failed.fields["exit_code"]) == (
        "critical", "sync", "69")
    relink = build_relink_alert(run_id="r3", items=[("item-1", "ITEM_LOGIN_REQUIRED")])
    assert "- item item-1: ITEM_LOGIN_REQUIRED" in relink.text
    assert relink.fields["items_needing_relink"] == "1"


def test_alerts_for_run_picks_the_alerts_a_run_calls_for() -> None:
    from types import SimpleNamespace

    from recon.alerts import alerts_for_run

    report = SimpleNamespace(
        threshold=SimpleNamespace(exceeded=True,
                                  reasons=("30 open discrepancies (threshold 25)",)),
        summary=SimpleNamespace(open_count=30, oldest_open_age_days=4, open_total_abs=(
            SimpleNamespace(currency="USD", minor=123456),
            SimpleNamespace(currency="JPY", minor=7))),
    )
    outcomes = [SimpleNamespace(item_id="item-b", status="needs_relink",
                                error_code="ITEM_LOGIN_REQUIRED"),
                SimpleNamespace(item_id="item-a", status="failed", error_code=None),
                SimpleNamespace(item_id="item-c", status="ok", error_code=None)]
    alerts = alerts_for_run(run_id="r", as_of=date(2025, 3, 9), failed_message=None,
                            report=report, sync_outcomes=outcomes)  # type: ignore[arg-type]
    assert [a.severity for a in alerts] == ["critical", "warning", "warning"]
    assert "the bank sync failed for 1 item(s): item-a" in alerts[0].text
    assert alerts[1].fields["open_amount"] == "7 JPY, 1234.56 USD"
    assert "item item-b: ITEM_LOGIN_REQUIRED" in alerts[2].text

    crashed = alerts_for_run(run_id="r", as_of=date(2025, 3, 9), failed_message="InputError: x",
                             report=None, sync_outcomes=[])
    assert [(a.severity, a.subject) for a in crashed] == [("critical", "recon run failed")]
    assert alerts_for_run(run_id="r", as_of=date(2025, 3, 9), failed_message=None,
                          report=None, sync_outcomes=[]) == []
