"""Plaid webhooks end to end: the emulator signs and delivers them over HTTP to the real ASGI
service (Uvicorn), which verifies them against keys from the emulator's
/webhook_verification_key/get and writes the durable sync queue in SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import jwt
import plaid
import pytest
import urllib3
from cryptography.hazmat.primitives.asymmetric import ec
from plaid.api.plaid_api import PlaidApi
from plaid.model.sandbox_item_fire_webhook_request import SandboxItemFireWebhookRequest
from plaid.model.sandbox_item_reset_login_request import SandboxItemResetLoginRequest
from plaid.model.transactions_refresh_request import TransactionsRefreshRequest
from sqlalchemy import Engine, select

from recon.config import Config, parse_config
from recon.lock import single_instance
from recon.pipeline import item_health
from recon.plaid.client import PlaidGateway, make_gateway
from recon.plaid.emulator import Emulator, EmulatorServer, Fault
from recon.plaid.items import add_sandbox_item, list_items
from recon.plaid.sync import sync_item
from recon.plaid.tokens import TokenVault, generate_key, load_access_token
from recon.store.db import open_store
from recon.store.schema import bank_transactions, items, sync_jobs, webhook_events
from recon.webhooks import queue
from recon.webhooks.server import BackgroundServer, RateLimit, WebhookService, create_app
from recon.webhooks.verify import WebhookVerifier, plaid_key_fetcher
from recon.webhooks.worker import JobResult, drain

CLIENT_ID = "webhook-test-client"
SECRET = "webhook-test-secret-4d1e"
ITEM = "wHkItemAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
STRANGER = "wHkStrangerBBBBBBBBBBBBBBBBBBBBBBBBBB"
KEY_ENV = "TEST_WEBHOOK_TOKEN_KEY"
PATH = "/plaid/webhook"


def fixtures() -> dict[str, Any]:
    def txn(n: int, **extra: Any) -> dict[str, Any]:
        day = (datetime.now(UTC).date() - timedelta(days=10 - n)).isoformat()
        return {"amount": Decimal(f"{n}.25"), "date": day, "name": f"Shop {n}", **extra}

    return {"items": [
        {"item_id": ITEM, "institution_id": "ins_109508",
         "accounts": [{"account_id": "wHkAccount1", "balances": {"iso_currency_code": "USD"}}],
         "transactions": [txn(n) for n in range(1, 8)] + [txn(8, pending=True)]},
        {"item_id": STRANGER, "institution_id": "ins_other",
         "accounts": [{"account_id": "wHkAccount2", "balances": {"iso_currency_code": "USD"}}],
         "transactions": [txn(1)]},
    ]}


@dataclass
class Rig:
    engine: Engine
    emulator: Emulator
    client: PlaidApi
    gateway: PlaidGateway
    vault: TokenVault
    config: Config
    url: str
    http: urllib3.PoolManager
    wakes: list[int]
    gateway_host: str
    vault_key: str

    def token(self) -> str:
        with self.engine.connect() as conn:
            return load_access_token(conn, self.vault, ITEM)

    def post(self, body: bytes, signature: str | None) -> tuple[int, dict[str, Any]]:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["Plaid-Verification"] = signature
        response = self.http.request("POST", self.url, body=body, headers=headers)
        return response.status, json.loads(response.data)

    def fire(self, code: str) -> None:
        self.client.sandbox_item_fire_webhook(
            SandboxItemFireWebhookRequest(access_token=self.token(), webhook_code=code))
        self.emulator.webhooks.wait_idle()

    def drain(self, clock: datetime | None = None) -> list[JobResult]:
        with single_instance(self.config.state, self.engine) as lock:
            return drain(self.config, self.engine, self.gateway, self.vault, lock,
                         clock=lambda: clock or datetime.now(UTC))

    def state(self) -> tuple[list[Any], list[Any], list[Any]]:
        """Everything a webhook can change: the log, the queue and the items."""
        with self.engine.connect() as conn:
            return (conn.execute(select(webhook_events).order_by(webhook_events.c.event_id))
                    .all(),
                    conn.execute(select(sync_jobs)).all(),
                    conn.execute(select(items).order_by(items.c.item_id)).all())

    def jobs(self) -> list[queue.QueuedJob]:
        with self.engine.connect() as conn:
            return queue.queued_jobs(conn)

    def outcomes(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(webhook_events.c.outcome)
                                     .order_by(webhook_events.c.event_id)).scalars())

    def live_ids(self) -> set[str]:
        t = bank_transactions
        with self.engine.connect() as conn:
            return set(conn.execute(select(t.c.transaction_id)
                                    .where(t.c.removed_at.is_(None))).scalars())

    def plaid_ids(self) -> set[str]:
        return {t["transaction_id"] for t in self.emulator.current_transactions(ITEM)}


def make_config(tmp_path: Path, store_url: str, **queue_settings: Any) -> Config:
    return parse_config({
        "plaid": {"timeout_seconds": 5, "retry": {"max_attempts": 2, "base_delay_seconds": 0}},
        "webhooks": {"queue": {"max_attempts": 3, "base_delay_seconds": 60,
                               "max_delay_seconds": 600, **queue_settings}},
        "state": {"lock_file": str(tmp_path / "recon.lock"), "database_url": store_url},
    }, environ={})


@pytest.fixture
def rig(store: Engine, store_url: str, tmp_path: Path) -> Iterator[Rig]:
    config = make_config(tmp_path, store_url)
    vault_key = generate_key()
    vault = TokenVault.from_env(KEY_ENV, {KEY_ENV: vault_key})
    emulator = Emulator(fixtures(), client_id=CLIENT_ID, secret=SECRET,
                        webhook_retry_seconds=0.05)
    wakes: list[int] = []
    with EmulatorServer(emulator) as plaid_server:
        gateway = make_gateway(config.plaid, host=plaid_server.url, client_id=CLIENT_ID,
                               secret=SECRET, sleep=lambda _s: None)
        service = WebhookService(WebhookVerifier(plaid_key_fetcher(gateway)), store,
                                 clock=lambda: datetime.now(UTC),
                                 on_queued=lambda: wakes.append(1))
        with BackgroundServer(create_app(service, config.webhooks)) as hooks:
            url = hooks.url + PATH
            add_sandbox_item(store, gateway, vault, "ins_109508", now=datetime.now(UTC),
                             webhook=url)
            assert sync_item(store, gateway, vault, ITEM, config,
                             now=datetime.now(UTC)).status == "ok"
            client = PlaidApi(plaid.ApiClient(plaid.Configuration(
                host=plaid_server.url, api_key={"clientId": CLIENT_ID, "secret": SECRET})))
            yield Rig(store, emulator, client, gateway, vault, config, url,
                      urllib3.PoolManager(retries=False), wakes, plaid_server.url, vault_key)


def delivered(rig: Rig, code: str) -> list[Any]:
    return [d for d in rig.emulator.webhooks.deliveries
            if json.loads(d.body)["webhook_code"] == code]


# --- the real flow --------------------------------------------------------------------------------


def test_new_transactions_reach_the_store_through_a_verified_webhook(rig: Rig) -> None:
    rig.client.transactions_refresh(TransactionsRefreshRequest(access_token=rig.token()))
    rig.emulator.webhooks.wait_idle()

    assert [d.status for d in rig.emulator.webhooks.deliveries] == [200, 200, 200]
    assert rig.outcomes() == ["queued", "ignored", "ignored"]  # SYNC, DEFAULT, REMOVED
    [job] = rig.jobs()
    assert (job.item_id, job.state, job.requests, job.attempts) == (ITEM, "queued", 1, 0)
    assert rig.wakes == [1]
    assert rig.live_ids() != rig.plaid_ids()  # the pending row posted at Plaid only

    [result] = rig.drain()
    assert (result.item_id, result.outcome, result.attempts) == (ITEM, "synced", 1)
    assert rig.live_ids() == rig.plaid_ids()
    assert rig.jobs() == []


def test_the_worker_drains_the_queue_in_the_background(
        store: Engine, store_url: str, tmp_path: Path) -> None:
    from recon.webhooks.worker import QueueWorker, drain_when_due

    config = make_config(tmp_path, store_url)
    vault = TokenVault.from_env(KEY_ENV, {KEY_ENV: generate_key()})
    emulator = Emulator(fixtures(), client_id=CLIENT_ID, secret=SECRET)
    with EmulatorServer(emulator) as plaid_server:
        gateway = make_gateway(config.plaid, host=plaid_server.url, client_id=CLIENT_ID,
                               secret=SECRET)
        worker = QueueWorker(lambda: drain_when_due(config, store, gateway, vault,
                                                    clock=lambda: datetime.now(UTC)),
                             poll_seconds=30)
        service = WebhookService(WebhookVerifier(plaid_key_fetcher(gateway)), store,
                                 clock=lambda: datetime.now(UTC), on_queued=worker.wake)
        with BackgroundServer(create_app(service, config.webhooks)) as hooks:
            add_sandbox_item(store, gateway, vault, "ins_109508", now=datetime.now(UTC),
                             webhook=hooks.url + PATH)
            worker.start()
            try:
                with store.connect() as conn:
                    token = load_access_token(conn, vault, ITEM)
                client = PlaidApi(plaid.ApiClient(plaid.Configuration(
                    host=plaid_server.url, api_key={"clientId": CLIENT_ID, "secret": SECRET})))
                client.sandbox_item_fire_webhook(SandboxItemFireWebhookRequest(
                    access_token=token, webhook_code="SYNC_UPDATES_AVAILABLE"))
                deadline = time.monotonic() + 30
                while True:  # woken by the webhook, not by its 30-second poll
                    with store.connect() as conn:
                        live = conn.execute(select(bank_transactions.c.transaction_id)).all()
                        jobs = queue.queued_jobs(conn)
                    if live and not jobs:
                        break
                    assert time.monotonic() < deadline, "the worker did not drain the queue"
                    time.sleep(0.05)
            finally:
                worker.stop()
    assert {row[0] for row in live} == {t["transaction_id"]
                                        for t in emulator.current_transactions(ITEM)}


def test_created_sandbox_transactions_arrive_through_a_webhook(rig: Rig) -> None:
    from plaid.model.custom_sandbox_transaction import CustomSandboxTransaction
    from plaid.model.sandbox_transactions_create_request import (
        SandboxTransactionsCreateRequest,
    )

    today = datetime.now(UTC).date()
    rig.client.sandbox_transactions_create(SandboxTransactionsCreateRequest(
        access_token=rig.token(), transactions=[CustomSandboxTransaction(
            date_transacted=today, date_posted=today, amount=42.0, description="Created")]))
    rig.emulator.webhooks.wait_idle()
    assert [json.loads(d.body)["webhook_code"] for d in rig.emulator.webhooks.deliveries] == [
        "SYNC_UPDATES_AVAILABLE", "DEFAULT_UPDATE"]
    [result] = rig.drain()
    assert result.outcome == "synced" and result.sync is not None and result.sync.added == 1
    assert rig.live_ids() == rig.plaid_ids()


def test_many_webhooks_for_one_item_are_one_job(rig: Rig) -> None:
    for _ in range(3):
        rig.fire("SYNC_UPDATES_AVAILABLE")
    assert rig.outcomes() == ["queued", "folded", "folded"]
    [job] = rig.jobs()
    assert job.requests == 3
    [result] = rig.drain()
    assert result.outcome == "synced"
    assert rig.jobs() == []


def test_a_duplicate_delivery_is_folded_into_the_same_job(rig: Rig) -> None:
    rig.fire("SYNC_UPDATES_AVAILABLE")
    first = delivered(rig, "SYNC_UPDATES_AVAILABLE")[0]
    again = rig.emulator.webhooks.sign(first.body)  # Plaid re-signs a retried delivery
    assert again != first.jwt
    assert rig.post(first.body, again) == (200, {"status": "folded"})
    [job] = rig.jobs()
    assert job.requests == 2


def test_a_webhook_during_a_running_sync_queues_it_again(rig: Rig) -> None:
    now = datetime.now(UTC)
    with rig.engine.begin() as conn:
        assert queue.enqueue_sync(conn, ITEM, now=now)
        job = queue.claim_next(conn, now=now)
        assert job is not None and job.attempts == 1
        assert not queue.enqueue_sync(conn, ITEM, now=now)  # arrives mid-sync
        assert queue.finish_ok(conn, ITEM, now=now)  # queued again, fresh
    [again] = rig.jobs()
    assert (again.state, again.attempts, again.requests) == ("queued", 0, 1)


def test_the_emulator_retries_a_delivery_that_was_not_answered_200(rig: Rig) -> None:
    rig.emulator.webhooks.send(rig.url.replace(PATH, "/not-here"), {"webhook_type": "X"})
    rig.emulator.webhooks.wait_idle()
    assert [d.status for d in rig.emulator.webhooks.deliveries] == [404, 404, 404]
    assert len({d.jwt for d in rig.emulator.webhooks.deliveries}) == 3  # signed afresh


# --- refused requests change nothing --------------------------------------------------------------


def signed_body(rig: Rig) -> tuple[bytes, str]:
    """A genuine SYNC_UPDATES_AVAILABLE body and its genuine signature."""
    body = json.dumps({"webhook_type": "TRANSACTIONS", "webhook_code": "SYNC_UPDATES_AVAILABLE",
                       "item_id": ITEM, "initial_update_complete": True,
                       "historical_update_complete": True, "environment": "sandbox"},
                      indent=2).encode()
    return body, rig.emulator.webhooks.sign(body)


def refused(rig: Rig, body: bytes, signature: str | None, status: int,
            caplog: pytest.LogCaptureFixture) -> str:
    before = rig.state()
    caplog.clear()
    answer_status, answer = rig.post(body, signature)
    assert answer_status == status, answer
    assert rig.state() == before
    lines = [r for r in caplog.records if r.name == "recon.webhooks.server"]
    assert len(lines) == 1 and lines[0].levelname == "WARNING"
    reason = str(answer["error"])
    assert reason == lines[0].reason  # type: ignore[attr-defined]
    return reason


def forge(body: bytes, *, kid: str, key: Any = None, iat: float | None = None,
          digest: str | None = None, algorithm: str = "ES256") -> str:
    import hashlib

    claims = {"iat": int(time.time() if iat is None else iat),
              "request_body_sha256": digest or hashlib.sha256(body).hexdigest()}
    signing_key = key if key is not None else ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(claims, signing_key, algorithm=algorithm, headers={"kid": kid})


def test_a_forged_signature_is_refused(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    body, _ = signed_body(rig)
    forged = forge(body, kid=rig.emulator.webhooks.current_key_id)  # right kid, wrong key
    assert refused(rig, body, forged, 401, caplog) == "JWT rejected (InvalidSignatureError)"


def test_a_body_that_does_not_match_its_hash_is_refused(
        rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    body, signature = signed_body(rig)
    tampered = body.replace(ITEM.encode(), STRANGER.encode())
    assert refused(rig, tampered, signature, 401, caplog) == (
        "body does not match request_body_sha256")
    reformatted = json.dumps(json.loads(body)).encode()  # same JSON, other bytes
    assert refused(rig, reformatted, signature, 401, caplog) == (
        "body does not match request_body_sha256")


def test_a_stale_iat_is_refused_and_a_fresh_one_passes(
        rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    body, _ = signed_body(rig)
    stale = rig.emulator.webhooks.sign(body, issued_at=time.time() - 301)
    assert refused(rig, body, stale, 401, caplog) == "JWT is older than 5 minutes"
    fresh = rig.emulator.webhooks.sign(body, issued_at=time.time() - 280)
    assert rig.post(body, fresh) == (200, {"status": "queued"})
    future = rig.emulator.webhooks.sign(body, issued_at=time.time() + 600)
    assert refused(rig, body, future, 401, caplog) == "JWT iat is in the future"


def test_an_unknown_kid_is_refused(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    body, _ = signed_body(rig)
    assert refused(rig, body, forge(body, kid="no-such-key"), 401, caplog) == (
        "unknown verification key id")


def test_only_es256_is_accepted(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    body, signature = signed_body(rig)
    claims = signature.split(".")[1]
    kid = rig.emulator.webhooks.current_key_id
    unsigned = jwt.encode(json.loads(jwt.utils.base64url_decode(claims)), key=None,
                          algorithm="none", headers={"kid": kid})
    hs256 = forge(body, kid=kid, key="a-shared-secret-of-32-bytes-ok!!", algorithm="HS256")
    for token in (unsigned, hs256):
        assert refused(rig, body, token, 401, caplog) == "JWT algorithm is not ES256"
    for token in (None, "", "not-a-jwt", "a.b.c"):
        refused(rig, body, token, 401, caplog)


def test_a_rotated_out_key_is_refused_once_plaid_says_it_expired(
        rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    old_kid = rig.emulator.webhooks.current_key_id
    rig.fire("SYNC_UPDATES_AVAILABLE")  # caches the old key
    new_kid = rig.emulator.webhooks.rotate_key()
    rig.fire("SYNC_UPDATES_AVAILABLE")  # a new kid: every cached key is looked up again
    assert [d.status for d in rig.emulator.webhooks.deliveries] == [200, 200]
    body, _ = signed_body(rig)
    old = rig.emulator.webhooks.sign(body, kid=old_kid)
    assert refused(rig, body, old, 401, caplog) == "verification key has expired"
    assert new_kid != old_kid


def test_a_replayed_request_is_refused(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    rig.fire("SYNC_UPDATES_AVAILABLE")
    [original] = delivered(rig, "SYNC_UPDATES_AVAILABLE")
    assert original.status == 200
    assert refused(rig, original.body, original.jwt, 401, caplog) == (
        "replay of a request already processed")
    [job] = rig.jobs()
    assert job.requests == 1


def test_a_verified_body_recon_cannot_read_is_a_400(
        rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    for body, reason in ((b"[1, 2]", "body is not a JSON object"),
                         (b"{not json", "body is not JSON"),
                         (b'{"webhook_type": "TRANSACTIONS", "webhook_code": '
                          b'"SYNC_UPDATES_AVAILABLE"}', "a TRANSACTIONS webhook needs an item_id"),
                         (json.dumps({"webhook_type": "ITEM", "webhook_code":
                                      "PENDING_EXPIRATION", "item_id": ITEM,
                                      "consent_expiration_time": "soon"}).encode(),
                          "consent_expiration_time is not an ISO 8601 date-time")):
        assert refused(rig, body, rig.emulator.webhooks.sign(body), 400, caplog) == reason


def test_a_webhook_for_an_unknown_item_changes_nothing_but_the_log(rig: Rig) -> None:
    before_jobs, before_items = rig.state()[1:]
    body = json.dumps({"webhook_type": "TRANSACTIONS", "webhook_code": "SYNC_UPDATES_AVAILABLE",
                       "item_id": STRANGER, "initial_update_complete": True,
                       "historical_update_complete": True, "environment": "sandbox"},
                      indent=2).encode()
    assert rig.post(body, rig.emulator.webhooks.sign(body)) == (200, {"status": "unknown_item"})
    assert rig.state()[1:] == (before_jobs, before_items)
    assert rig.outcomes() == ["unknown_item"]
    assert rig.wakes == []


def test_body_size_and_request_rate_are_bounded(
        rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    big = b"{" + b" " * (rig.config.webhooks.max_body_bytes + 1) + b"}"
    assert refused(rig, big, rig.emulator.webhooks.sign(big), 413, caplog).startswith(
        "body larger than")
    chunked = rig.http.request("POST", rig.url, body=iter([b"{", b" " * 70_000, b"}"]),
                               headers={"Plaid-Verification": "x"}, chunked=True)
    assert chunked.status == 413

    now = [0.0]
    limit = RateLimit(per_second=1, per_client_per_second=1, clock=lambda: now[0])
    assert [limit.allow("10.0.0.1") for _ in range(3)] == [True, True, False]  # burst of 2
    now[0] += 1.0
    assert limit.allow("10.0.0.1")
    assert not limit.allow("10.0.0.2")  # the shared bucket is empty too

    body, signature = signed_body(rig)
    statuses = [rig.post(body, signature)[0] for _ in range(12)]  # one client, 5/s, burst 10
    assert 429 in statuses and statuses[0] == 200


# --- item webhooks update the item's health -------------------------------------------------------


def item_row(rig: Rig) -> Any:
    with rig.engine.connect() as conn:
        return conn.execute(select(items).where(items.c.item_id == ITEM)).one()


def test_item_webhooks_update_the_item_health(rig: Rig) -> None:
    rig.client.sandbox_item_reset_login(SandboxItemResetLoginRequest(access_token=rig.token()))
    rig.emulator.webhooks.wait_idle()
    row = item_row(rig)
    assert (row.status, row.last_sync_error) == ("needs_relink", "ITEM_LOGIN_REQUIRED")

    rig.fire("LOGIN_REPAIRED")
    row = item_row(rig)
    assert (row.status, row.last_sync_error) == ("active", None)

    rig.emulator.send_webhook(ITEM, "PENDING_EXPIRATION")
    rig.emulator.webhooks.wait_idle()
    expires = item_row(rig).consent_expires_at
    assert expires is not None
    [health] = list_items(rig.engine, now=datetime.now(UTC))
    assert health.consent_expires_at is not None
    assert timedelta(days=6) < health.consent_expires_at - datetime.now(UTC) <= timedelta(days=7)
    assert f"attention: {ITEM}: consent expires {health.consent_expires_at:%Y-%m-%d %H:%M} UTC: " \
        "re-link in Link update mode" in item_health(rig.config)

    rig.fire("USER_PERMISSION_REVOKED")
    row = item_row(rig)
    assert (row.status, row.last_sync_error) == ("needs_relink", "USER_PERMISSION_REVOKED")
    assert rig.outcomes() == ["item_updated"] * 4
    assert rig.jobs() == []


# --- retries, dead letters and a worker crash -----------------------------------------------------


def test_failures_back_off_then_park_in_the_dead_letter_table(rig: Rig) -> None:
    rig.fire("SYNC_UPDATES_AVAILABLE")
    rig.emulator.inject(ITEM, Fault("internal_error", endpoint="/transactions/sync", times=100))
    start = datetime.now(UTC)

    [first] = rig.drain(start)
    assert (first.outcome, first.attempts, first.error_code) == (
        "retry", 1, "INTERNAL_SERVER_ERROR")
    [job] = rig.jobs()
    assert timedelta(seconds=30) <= job.not_before - start <= timedelta(seconds=60)
    assert f"sync queue: {ITEM} queued (1 webhook(s), 1 tries so far)" in item_health(rig.config)
    assert rig.drain(start + timedelta(seconds=29)) == []  # not due yet

    [second] = rig.drain(start + timedelta(seconds=61))
    assert (second.outcome, second.attempts) == ("retry", 2)
    [job] = rig.jobs()
    assert timedelta(seconds=60) <= job.not_before - (start + timedelta(seconds=61)) <= (
        timedelta(seconds=120))

    [third] = rig.drain(start + timedelta(hours=1))
    assert (third.outcome, third.attempts) == ("dead_letter", 3)
    assert rig.jobs() == []
    with rig.engine.connect() as conn:
        [letter] = queue.open_dead_letters(conn)
    assert (letter.item_id, letter.attempts, letter.last_error) == (
        ITEM, 3, "INTERNAL_SERVER_ERROR")
    shown = [line for line in item_health(rig.config) if line.startswith("attention:")]
    assert shown == [f"attention: {ITEM}: webhook sync gave up after 3 tries "
                     f"(INTERNAL_SERVER_ERROR) at {letter.parked_at:%Y-%m-%d %H:%M} UTC; the "
                     f"next successful sync clears this"]

    with rig.engine.begin() as conn:  # what the nightly full sync does after it succeeded
        queue.settle_after_full_sync(conn, ITEM, synced_from=datetime.now(UTC),
                                     now=datetime.now(UTC))
        assert queue.open_dead_letters(conn) == []


def test_a_full_sync_settles_the_jobs_it_covers(rig: Rig) -> None:
    rig.fire("SYNC_UPDATES_AVAILABLE")
    [job] = rig.jobs()
    with rig.engine.begin() as conn:
        assert queue.settle_after_full_sync(
            conn, ITEM, synced_from=job.not_before - timedelta(seconds=1),
            now=datetime.now(UTC)) == 0  # asked for after the full sync started: kept
        assert queue.settle_after_full_sync(
            conn, ITEM, synced_from=datetime.now(UTC), now=datetime.now(UTC)) == 1
    assert rig.jobs() == []


def test_the_queue_waits_while_another_run_holds_the_lock(rig: Rig) -> None:
    from recon.errors import AlreadyRunningError
    from recon.webhooks.worker import drain_when_due

    rig.fire("SYNC_UPDATES_AVAILABLE")
    with single_instance(rig.config.state, rig.engine), pytest.raises(AlreadyRunningError):
        drain_when_due(rig.config, rig.engine, rig.gateway, rig.vault,
                       clock=lambda: datetime.now(UTC))
    [job] = rig.jobs()
    assert (job.state, job.attempts) == ("queued", 0)
    assert [r.outcome for r in drain_when_due(
        rig.config, rig.engine, rig.gateway, rig.vault, clock=lambda: datetime.now(UTC))] == [
        "synced"]


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["sync.inside_commit", "sync.after_commit"])
def test_a_worker_killed_mid_sync_loses_nothing(
        rig: Rig, store_url: str, tmp_path: Path, fault: str) -> None:
    import os
    import subprocess
    import sys

    import yaml

    rig.client.transactions_refresh(TransactionsRefreshRequest(access_token=rig.token()))
    rig.emulator.webhooks.wait_idle()
    before = rig.live_ids()
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump({
        "plaid": {"host": rig.gateway_host, "retry": {"max_attempts": 2}},
        "secrets": {"token_key_env": KEY_ENV},
        "webhooks": {"queue": {"base_delay_seconds": 0}},
        "state": {"database_url": store_url, "lock_file": str(tmp_path / "recon.lock"),
                  "log_file": None, "metrics_file": None},
    }))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECON_FAULT")}
    env.update(PLAID_CLIENT_ID=CLIENT_ID, PLAID_SECRET=SECRET, **{KEY_ENV: rig.vault_key})

    def recon(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "recon", *args, "--config",
                               str(config_file)], env={**env, **extra}, capture_output=True,
                              text=True, timeout=120, check=False)

    killed = recon("sync", "--queued", RECON_FAULT_POINT=fault)
    assert killed.returncode == -9, killed.stderr
    [job] = rig.jobs()
    assert (job.state, job.attempts) == ("running", 1)
    assert rig.live_ids() == (before if fault == "sync.inside_commit" else rig.plaid_ids())

    rerun = recon("sync", "--queued")
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.splitlines() == [f"{ITEM}: retry (attempt 1) WORKER_CRASHED",
                                         f"{ITEM}: synced (attempt 2)"]
    assert rig.jobs() == []
    assert rig.live_ids() == rig.plaid_ids()
    with rig.engine.connect() as conn:
        ids = conn.execute(select(bank_transactions.c.transaction_id)).scalars().all()
    assert len(ids) == len(set(ids))


def test_the_report_shows_webhook_notes_in_the_item_health(tmp_path: Path) -> None:
    import html
    from dataclasses import replace

    import openpyxl
    from test_report_support import inputs, sample_result

    from recon.reporting import ItemHealth, build_report
    from recon.reporting.excel import write_excel
    from recon.reporting.html import render_html

    note = "webhook sync gave up after 5 tries (INTERNAL_SERVER_ERROR) at 2024-03-16 04:00 UTC"
    health = (ItemHealth("First Platypus Bank", "item-1", None, "active", notes=(note,)),)
    report = build_report(replace(inputs(sample_result()), item_health=health))
    assert note in html.unescape(render_html(report))
    workbook = openpyxl.load_workbook(write_excel(report, tmp_path / "report.xlsx"))
    cells = {cell.value for sheet in workbook for row in sheet.iter_rows() for cell in row}
    assert f"active; {note}" in cells


@pytest.mark.slow
def test_recon_webhooks_serve_receives_verifies_and_drains(store_url: str, tmp_path: Path) -> None:
    """The real commands: `recon items add`, `recon webhooks serve`, `recon webhooks register`,
    `recon items list`, with the emulator as Plaid."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    import yaml
    from plaid.model.item_get_request import ItemGetRequest

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    emulator = Emulator(fixtures(), client_id=CLIENT_ID, secret=SECRET)
    key = generate_key()
    with EmulatorServer(emulator) as plaid_server:
        config_file = tmp_path / "config.yaml"
        config_file.write_text(yaml.safe_dump({
            "plaid": {"host": plaid_server.url},
            "secrets": {"token_key_env": KEY_ENV},
            "webhooks": {"public_url": f"http://127.0.0.1:{port}{PATH}", "port": port,
                         "queue": {"poll_seconds": 60}},
            "state": {"database_url": store_url, "lock_file": str(tmp_path / "recon.lock"),
                      "log_file": None, "metrics_file": None},
        }))
        env = {k: v for k, v in os.environ.items() if not k.startswith("RECON_FAULT")}
        env.update(PLAID_CLIENT_ID=CLIENT_ID, PLAID_SECRET=SECRET, **{KEY_ENV: key})

        def recon(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "recon", *args, "--config",
                                   str(config_file)], env=env, capture_output=True, text=True,
                                  timeout=120, check=False)

        assert recon("items", "add", "--sandbox", "ins_109508").returncode == 0
        server = subprocess.Popen(
            [sys.executable, "-m", "recon", "webhooks", "serve", "--config", str(config_file)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            http = urllib3.PoolManager(retries=False)
            deadline = time.monotonic() + 60
            while True:
                try:
                    if http.request("GET", f"http://127.0.0.1:{port}/healthz").status == 200:
                        break
                except urllib3.exceptions.HTTPError:
                    pass
                assert time.monotonic() < deadline and server.poll() is None, "not started"
                time.sleep(0.1)
            engine = open_store(store_url)
            vault = TokenVault.from_env(KEY_ENV, {KEY_ENV: key})
            with engine.connect() as conn:
                token = load_access_token(conn, vault, ITEM)
            client = PlaidApi(plaid.ApiClient(plaid.Configuration(
                host=plaid_server.url, api_key={"clientId": CLIENT_ID, "secret": SECRET})))
            client.sandbox_item_fire_webhook(SandboxItemFireWebhookRequest(
                access_token=token, webhook_code="SYNC_UPDATES_AVAILABLE"))
            emulator.webhooks.wait_idle()
            deadline = time.monotonic() + 60
            while True:  # the worker is woken by the webhook (its poll is a minute)
                with engine.connect() as conn:
                    stored = set(conn.execute(select(bank_transactions.c.transaction_id))
                                 .scalars())
                    waiting = queue.queued_jobs(conn)
                if stored and not waiting:
                    break
                assert time.monotonic() < deadline, "the queued sync did not run"
                time.sleep(0.1)
            assert stored == {t["transaction_id"] for t in emulator.current_transactions(ITEM)}

            registered = recon("webhooks", "register")
            assert registered.returncode == 0, registered.stderr
            assert f"1 item(s) now send webhooks to http://127.0.0.1:{port}{PATH}" in (
                registered.stdout)
            emulator.webhooks.wait_idle()
            assert client.item_get(ItemGetRequest(access_token=token)).item.webhook == (
                f"http://127.0.0.1:{port}{PATH}")
            listed = recon("items", "list")
            assert listed.returncode == 0 and ITEM in listed.stdout
            assert "attention:" not in listed.stdout and "sync queue:" not in listed.stdout
            engine.dispose()
        finally:
            server.send_signal(signal.SIGTERM)
            _out, err = server.communicate(timeout=60)
        assert server.returncode == 0, err
        assert [d.status for d in emulator.webhooks.deliveries] == [200, 200]
        assert 'msg="webhook accepted"' in err and 'outcome="queued"' in err
        assert 'msg="queued sync finished"' in err and 'outcome="synced"' in err
        assert 'webhook_code="WEBHOOK_UPDATE_ACKNOWLEDGED"' in err


def test_a_failing_job_is_tried_once_per_drain_even_without_backoff(
        rig: Rig, tmp_path: Path, store_url: str) -> None:
    config = make_config(tmp_path, store_url, base_delay_seconds=0)
    rig.fire("SYNC_UPDATES_AVAILABLE")
    rig.emulator.inject(ITEM, Fault("internal_error", endpoint="/transactions/sync", times=100))
    for attempt in (1, 2):
        with single_instance(config.state, rig.engine) as lock:
            results = drain(config, rig.engine, rig.gateway, rig.vault, lock,
                            clock=lambda: datetime.now(UTC))
        assert [(r.outcome, r.attempts) for r in results] == [("retry", attempt)]


def test_a_state_store_that_is_down_answers_503_so_plaid_delivers_again(rig: Rig) -> None:
    from sqlalchemy import create_engine

    down = create_engine("sqlite:////nonexistent-folder/recon.db")
    service = WebhookService(WebhookVerifier(plaid_key_fetcher(rig.gateway)), down,
                             clock=lambda: datetime.now(UTC), on_queued=lambda: None)
    body, signature = signed_body(rig)
    status, answer = service.process(signature, body, "127.0.0.1")
    assert (status, answer) == (503, {"error": "state store unavailable (OperationalError)"})
    assert rig.post(body, signature) == (200, {"status": "queued"})  # the retry is not a replay
