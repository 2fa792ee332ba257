"""Alerts: e-mail (SMTP) and a Slack-compatible webhook, best effort and bounded in time.

:func:`send_alerts` never raises and returns within ``deadline_seconds``: an alert that cannot be
delivered must not change the job's exit code or keep cron waiting. Each channel runs in its own
daemon thread with retries and backoff; whatever has not finished at the deadline is reported as
failed and abandoned.

Secrets: the webhook URL embeds a secret and the SMTP password is one, so neither is ever logged
or put into a delivery result; failures are described by channel and error class only. The text
sent passes through :meth:`recon.logs.Redactor.redact` (tokens, card numbers, known secret values).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import smtplib
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from email.message import EmailMessage
from typing import TYPE_CHECKING, Literal

from recon.config import AlertsConfig, EmailAlert, WebhookAlert
from recon.logs import Redactor
from recon.money import from_minor

if TYPE_CHECKING:
    from recon.plaid.sync import SyncOutcome
    from recon.reporting.model import Report

log = logging.getLogger(__name__)

Severity = Literal["info", "warning", "critical"]
Channel = Literal["email", "webhook"]

_SLACK_MAX_FIELDS = 10  # a Slack section block takes at most 10 fields
_SLACK_MAX_TEXT = 2900  # and at most 3000 characters of text
_BACKOFF_BASE_SECONDS = 0.5
_BACKOFF_MAX_SECONDS = 8.0


@dataclass(frozen=True)
class AlertMessage:
    subject: str
    text: str
    severity: Severity
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertDelivery:
    """The outcome for one channel. ``error`` is an error class name, never an error text."""

    channel: Channel
    ok: bool
    attempts: int
    error: str | None = None


class _PermanentFailure(Exception):
    """A failure retrying cannot fix (bad URL, 4xx, missing environment variable)."""


class _RetryableHTTPStatus(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTPError:{status}")
        self.status = status


# --- building messages ----------------------------------------------------------------------


def build_failure_alert(
    *,
    run_id: str,
    reason: str,
    exit_code: int | None = None,
    as_of: date | None = None,
    step: str | None = None,
) -> AlertMessage:
    """The run failed: what, where, and what to do next (the exit code says which)."""
    fields = {"run_id": run_id}
    if exit_code is not None:
        fields["exit_code"] = str(exit_code)
    if as_of is not None:
        fields["as_of"] = as_of.isoformat()
    if step:
        fields["step"] = step
    return AlertMessage(
        subject="recon run failed" + (f" (exit {exit_code})" if exit_code is not None else ""),
        text=f"The nightly reconciliation did not complete: {reason}",
        severity="critical",
        fields=fields,
    )


def build_discrepancy_alert(
    *,
    run_id: str,
    as_of: date,
    open_count: int,
    open_amount_by_currency: Mapping[str, Decimal],
    oldest_age_days: int | None,
    breaches: Sequence[str],
    report_location: str | None = None,
) -> AlertMessage:
    """The run worked and found open discrepancies above the threshold (exit code 3)."""
    amounts = ", ".join(f"{abs(a)} {c}" for c, a in sorted(open_amount_by_currency.items()))
    fields = {
        "run_id": run_id,
        "as_of": as_of.isoformat(),
        "open_discrepancies": str(open_count),
        "open_amount": amounts or "0",
        "oldest_open_age_days": "-" if oldest_age_days is None else str(oldest_age_days),
    }
    if report_location:
        fields["report"] = report_location
    text = "Open discrepancies are above the alert threshold:\n" + "\n".join(
        f"- {b}" for b in breaches
    )
    return AlertMessage(
        subject=f"recon {as_of.isoformat()}: {open_count} open discrepancies need review",
        text=text,
        severity="warning",
        fields=fields,
    )


def build_relink_alert(
    *, run_id: str, items: Sequence[tuple[str, str]]
) -> AlertMessage:
    """Plaid Items that need a user to re-link them in Link (``(item_id, reason)`` pairs)."""
    lines = "\n".join(f"- item {item_id}: {reason}" for item_id, reason in items)
    return AlertMessage(
        subject=f"recon: {len(items)} bank connection(s) need re-linking",
        text="These Items cannot sync until a user re-links them in Plaid Link "
        f"(update mode):\n{lines}",
        severity="warning",
        fields={"run_id": run_id, "items_needing_relink": str(len(items))},
    )


def build_missed_run_alert(*, scheduled_for: str, job_id: str) -> AlertMessage:
    """The scheduler skipped a run (it started later than the misfire grace time allows)."""
    return AlertMessage(
        subject="recon: the scheduled nightly run was missed",
        text=f"The run scheduled for {scheduled_for} did not start within the misfire grace "
        "time and was skipped. Run `recon run` by hand (with --as-of) to catch up.",
        severity="critical",
        fields={"job": job_id, "scheduled_for": scheduled_for},
    )


def alerts_for_run(
    *,
    run_id: str,
    as_of: date,
    failed_message: str | None,
    report: Report | None,
    sync_outcomes: Sequence[SyncOutcome],
    exit_code: int | None = None,
) -> list[AlertMessage]:
    """The alerts one finished run calls for (possibly none), most severe first."""
    alerts: list[AlertMessage] = []
    if failed_message is not None:
        alerts.append(build_failure_alert(run_id=run_id, reason=failed_message, as_of=as_of,
                                          exit_code=exit_code))
    failed_items = sorted(o.item_id for o in sync_outcomes if o.status == "failed")
    if failed_items:
        alerts.append(build_failure_alert(
            run_id=run_id, as_of=as_of, step="sync",
            reason=f"the bank sync failed for {len(failed_items)} item(s): "
            + ", ".join(failed_items) + "; other items were reconciled",
        ))
    if report is not None and report.threshold.exceeded:
        summary = report.summary
        totals: dict[str, Decimal] = {
            amount.currency: from_minor(amount.minor, amount.currency)
            for amount in summary.open_total_abs
        }
        alerts.append(build_discrepancy_alert(
            run_id=run_id, as_of=as_of, open_count=summary.open_count,
            open_amount_by_currency=totals, oldest_age_days=summary.oldest_open_age_days,
            breaches=report.threshold.reasons,
        ))
    relink = sorted({(o.item_id, o.error_code or "needs re-link")
                     for o in sync_outcomes if o.status == "needs_relink"})
    if relink:
        alerts.append(build_relink_alert(run_id=run_id, items=relink))
    return alerts


# --- sending --------------------------------------------------------------------------------


def send_alerts(
    config: AlertsConfig,
    message: AlertMessage,
    *,
    environ: Mapping[str, str] = os.environ,
    deadline_seconds: float = 30.0,
) -> list[AlertDelivery]:
    """Deliver ``message`` on every configured channel; never raises; returns by the deadline."""
    channels: list[Channel] = []
    if config.email is not None:
        channels.append("email")
    if config.webhook is not None:
        channels.append("webhook")
    if not channels:
        return []
    try:
        deadline = time.monotonic() + max(0.0, deadline_seconds)
        safe = _redacted(config, message, environ)
        senders: list[tuple[Channel, Callable[[float], None]]] = []
        if config.email is not None:
            email = config.email
            senders.append(("email", lambda timeout: _send_email(email, safe, environ, timeout)))
        if config.webhook is not None:
            hook = config.webhook
            senders.append(("webhook", lambda timeout: _post_webhook(hook, safe, environ, timeout)))
        results: dict[Channel, AlertDelivery] = {}
        threads = []
        for channel, send in senders:
            timeout = _channel_timeout(config, channel)
            thread = threading.Thread(
                target=_deliver,
                args=(channel, send, timeout, config.retries, deadline, results),
                name=f"recon-alert-{channel}",
                daemon=True,  # an abandoned delivery must not keep the process alive
            )
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        deliveries = []
        for channel, _ in senders:
            delivery = results.get(channel)
            if delivery is None:
                log.error("alert delivery gave up at the deadline", extra={"channel": channel})
                delivery = AlertDelivery(channel, ok=False, attempts=0, error="DeadlineExceeded")
            deliveries.append(delivery)
        return deliveries
    except Exception as exc:  # an alert bug must never fail the job
        log.error("alert sending failed", extra={"error": type(exc).__name__})
        return [AlertDelivery(c, ok=False, attempts=0, error=type(exc).__name__) for c in channels]


def _channel_timeout(config: AlertsConfig, channel: Channel) -> float:
    if channel == "email" and config.email is not None:
        return config.email.timeout_seconds
    if channel == "webhook" and config.webhook is not None:
        return config.webhook.timeout_seconds
    return 10.0


def _redacted(
    config: AlertsConfig, message: AlertMessage, environ: Mapping[str, str]
) -> AlertMessage:
    # The channels' own secrets may come from an environ other than os.environ: register them
    # so the redactor (and every log formatter) masks them too.
    secret_envs = []
    if config.webhook is not None:
        secret_envs.append(config.webhook.url_env)
    if config.email is not None and config.email.password_env:
        secret_envs.append(config.email.password_env)
    for name in secret_envs:
        Redactor.register_secret_env(name)
        Redactor.register_secret_value(environ.get(name, ""))
    return AlertMessage(
        subject=Redactor.redact(message.subject),
        text=Redactor.redact(message.text),
        severity=message.severity,
        fields={Redactor.redact(k): Redactor.redact(v) for k, v in message.fields.items()},
    )


_DEADLINE_SLACK_SECONDS = 0.05  # a socket timeout set to the time left fires about then


def _deliver(
    channel: Channel,
    send: Callable[[float], None],
    timeout: float,
    retries: int,
    deadline: float,
    results: dict[Channel, AlertDelivery],
) -> None:
    attempt = 0
    error = "DeadlineExceeded"
    while attempt < retries:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        attempt += 1
        budget = min(timeout, remaining)
        try:
            send(budget)
        except _PermanentFailure as exc:
            error = str(exc)  # our own text: a class or status name, never a value
            log.error("alert not delivered (not retried)",
                      extra={"channel": channel, "error": error, "attempt": attempt})
            break
        except Exception as exc:
            error = str(exc) if isinstance(exc, _RetryableHTTPStatus) else type(exc).__name__
            if budget < timeout and time.monotonic() >= deadline - _DEADLINE_SLACK_SECONDS:
                # The overall deadline, not the channel's timeout, ended the wait (the socket's
                # error for it varies: TimeoutError, SMTPServerDisconnected...).
                error = "DeadlineExceeded"
            log.warning("alert delivery failed",
                        extra={"channel": channel, "error": error, "attempt": attempt,
                               "retries": retries})
            if attempt < retries:
                backoff = min(_BACKOFF_MAX_SECONDS, _BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
                time.sleep(max(0.0, min(backoff, deadline - time.monotonic())))
            continue
        log.info("alert delivered", extra={"channel": channel, "attempt": attempt})
        results[channel] = AlertDelivery(channel, ok=True, attempts=attempt)
        return
    else:
        log.error("alert not delivered after retries", extra={"channel": channel, "error": error})
    results[channel] = AlertDelivery(channel, ok=False, attempts=attempt, error=error)


def _body(message: AlertMessage) -> str:
    lines = [message.text, ""]
    lines += [f"{key}: {value}" for key, value in message.fields.items()]
    return "\n".join(lines).rstrip() + "\n"


def _env(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "")
    if not value:
        raise _PermanentFailure(f"MissingEnvironmentVariable:{name}")
    return value


def _send_email(
    config: EmailAlert, message: AlertMessage, environ: Mapping[str, str], timeout: float
) -> None:
    email = EmailMessage()
    email["Subject"] = f"[recon {message.severity}] {message.subject}"
    email["From"] = config.sender
    email["To"] = ", ".join(config.recipients)
    email.set_content(_body(message))
    username = _env(environ, config.username_env) if config.username_env else None
    password = _env(environ, config.password_env) if config.password_env else None
    with smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=timeout) as smtp:
        smtp.ehlo()
        if config.starttls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if username is not None and password is not None:
            try:
                smtp.login(username, password)
            except smtplib.SMTPAuthenticationError:
                raise _PermanentFailure("SMTPAuthenticationError") from None
        smtp.send_message(email)


def _webhook_payload(message: AlertMessage) -> dict[str, object]:
    icon = {"info": ":information_source:", "warning": ":warning:", "critical": ":rotating_light:"}
    summary = f"{icon[message.severity]} *{message.subject}*"
    blocks: list[dict[str, object]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": summary[:_SLACK_MAX_TEXT]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": message.text[:_SLACK_MAX_TEXT]}},
    ]
    fields = [{"type": "mrkdwn", "text": f"*{k}*\n{v}"[:1900]}
              for k, v in list(message.fields.items())[:_SLACK_MAX_FIELDS]]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    # "text" is the notification fallback and what non-Slack receivers read.
    return {"text": f"{summary}\n{_body(message)}", "blocks": blocks}


def _checked_webhook_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http" and _is_loopback(host):
        return url  # a local relay; plain HTTP elsewhere would expose the secret in the URL
    raise _PermanentFailure("InvalidWebhookURL")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _post_webhook(
    config: WebhookAlert, message: AlertMessage, environ: Mapping[str, str], timeout: float
) -> None:
    url = _checked_webhook_url(_env(environ, config.url_env))
    request = urllib.request.Request(  # noqa: S310 - scheme checked above (https, or loopback)
        url,
        data=json.dumps(_webhook_payload(message)).encode("utf-8"),
        headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "recon"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            response.read(1024)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 429 or exc.code >= 500:
            raise _RetryableHTTPStatus(exc.code) from None
        raise _PermanentFailure(f"HTTPError:{exc.code}") from None
