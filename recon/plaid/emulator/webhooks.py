"""Signed webhooks from the emulator, delivered the way Plaid delivers them.

Plaid signs every webhook with an ES256 key (P-256) and puts a JWT in the ``Plaid-Verification``
header whose claims are ``iat`` and ``request_body_sha256`` (the SHA-256 of the exact body bytes;
Plaid's bodies are JSON with 2-space indentation). The public half is served as a JWK by
``/webhook_verification_key/get``; a rotated-out key gets ``expired_at``.

Deliveries are asynchronous (Plaid answers the API call first), from one background thread, in
order. A delivery that gets no 2xx answer is retried (``attempts`` in all), signed afresh each
time, so a receiver may see the same body twice with different JWTs: a duplicate delivery.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
import urllib3
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """One attempt to deliver a webhook: what was sent and what the receiver answered."""

    url: str
    body: bytes
    jwt: str
    status: int | None  # None: no HTTP answer (connection refused, timeout)
    attempt: int


@dataclass
class _SigningKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey
    created_at: int
    expired_at: int | None = None

    def jwk(self) -> dict[str, Any]:
        public = ECAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {"alg": "ES256", "crv": public["crv"], "kid": self.kid, "kty": public["kty"],
                "use": "sig", "x": public["x"], "y": public["y"],
                "created_at": self.created_at, "expired_at": self.expired_at}


def webhook_bytes(body: Mapping[str, Any]) -> bytes:
    """A webhook body as Plaid writes it: JSON with 2-space indentation."""
    return json.dumps(body, indent=2).encode("utf-8")


class WebhookSender:
    """The emulator's webhook keys and its delivery thread."""

    def __init__(self, *, attempts: int = 3, retry_seconds: float = 0.5,
                 timeout_seconds: float = 5.0) -> None:
        self._attempts = attempts
        self._retry_seconds = retry_seconds
        self._keys: dict[str, _SigningKey] = {}
        self._current = self._new_key()
        self._lock = threading.Lock()
        self._outbox: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._http = urllib3.PoolManager(
            timeout=urllib3.Timeout(total=timeout_seconds), retries=False)
        self._thread: threading.Thread | None = None
        self.deliveries: list[Delivery] = []

    def _new_key(self) -> _SigningKey:
        key = _SigningKey(str(uuid.uuid4()), ec.generate_private_key(ec.SECP256R1()),
                          int(time.time()))
        self._keys[key.kid] = key
        return key

    @property
    def current_key_id(self) -> str:
        return self._current.kid

    def jwk(self, kid: str) -> dict[str, Any] | None:
        """The public JWK for a key id, or None when the emulator never had that key."""
        with self._lock:
            key = self._keys.get(kid)
            return None if key is None else key.jwk()

    def rotate_key(self) -> str:
        """Sign with a new key from now on; the old one is marked expired. Returns the new kid."""
        with self._lock:
            self._current.expired_at = int(time.time())
            self._current = self._new_key()
            return self._current.kid

    def sign(self, body: bytes, *, issued_at: float | None = None, kid: str | None = None) -> str:
        """The ``Plaid-Verification`` JWT for these exact body bytes (tests sign with an old
        ``issued_at`` or an expired ``kid`` to play a stale or rotated-out signature)."""
        with self._lock:
            key = self._keys[kid] if kid is not None else self._current
        claims = {"iat": int(time.time() if issued_at is None else issued_at),
                  "request_body_sha256": hashlib.sha256(body).hexdigest()}
        return jwt.encode(claims, key.private_key, algorithm="ES256", headers={"kid": key.kid})

    def send(self, url: str, body: Mapping[str, Any]) -> None:
        """Queue a webhook for delivery to ``url`` (returns at once, as Plaid does)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._deliver_forever,
                                                name="plaid-emulator-webhooks", daemon=True)
                self._thread.start()
        self._outbox.put((url, webhook_bytes(body)))

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Block until every queued webhook was delivered or given up (for tests and demos)."""
        deadline = time.monotonic() + timeout
        while self._outbox.unfinished_tasks:
            if time.monotonic() > deadline:
                raise TimeoutError("webhook deliveries still pending")
            time.sleep(0.01)

    def _deliver_forever(self) -> None:
        while True:
            url, body = self._outbox.get()
            try:
                self._deliver(url, body)
            finally:
                self._outbox.task_done()

    def _deliver(self, url: str, body: bytes) -> None:
        for attempt in range(1, self._attempts + 1):
            token = self.sign(body)
            status: int | None
            try:
                response = self._http.request(
                    "POST", url, body=body,
                    headers={"Content-Type": "application/json", "Plaid-Verification": token})
                status = response.status
            except urllib3.exceptions.HTTPError:
                status = None
            self.deliveries.append(Delivery(url, body, token, status, attempt))
            log.debug("emulator webhook to %s -> %s (attempt %d)", url, status, attempt)
            if status is not None and 200 <= status < 300:
                return
            if attempt < self._attempts:
                time.sleep(self._retry_seconds * attempt)
