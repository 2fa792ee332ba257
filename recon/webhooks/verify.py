"""Plaid webhook verification, step by step as Plaid documents it (webhook-verification page).

1. The ``Plaid-Verification`` header is a JWT; its header is read unverified and its ``alg``
   must be ``ES256`` (``none``, ``HS256`` and everything else are refused before any key is
   looked at, so an HMAC signed with a public key never passes).
2. The key comes from ``/webhook_verification_key/get`` by the JWT's ``kid`` and is cached. As
   in Plaid's example, an unknown ``kid`` refreshes every cached key that has not expired yet
   (that is how an ``expired_at`` set during a key rotation is learnt), and a key whose
   ``expired_at`` is set is refused. Cached keys are also refreshed after ``refresh_seconds``.
   A ``kid`` Plaid does not know is remembered for a minute, and key look-ups are rate-limited,
   so forged ``kid`` values cannot turn the server into a request amplifier.
3. The signature is checked with PyJWT (ES256 only); ``iat`` must be at most 5 minutes old.
4. ``request_body_sha256`` must equal the SHA-256 of the raw body bytes as received (Plaid's
   body is whitespace-sensitive), compared in constant time.

A failure raises :class:`VerificationError` with an HTTP status and a short reason that names
no secret and no body content.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt

from recon.plaid.client import PlaidCallError, PlaidGateway

log = logging.getLogger(__name__)

ALGORITHM = "ES256"
MAX_AGE_SECONDS = 5 * 60
# Plaid's clock and ours may differ a little: an iat this far in the future still passes.
FUTURE_LEEWAY_SECONDS = 60
MAX_JWT_CHARS = 4096
UNKNOWN_KID_SECONDS = 60.0
_MAX_KID_CHARS = 100


class VerificationError(Exception):
    """A webhook that must not be acted on: ``status`` is the HTTP answer."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(f"{status} {reason}")


class KeyUnavailable(Exception):
    """Plaid could not be asked for a key right now (transient): the sender should retry."""


# kid -> the JWK, or None when Plaid does not know that kid. Raises KeyUnavailable when Plaid
# cannot be reached.
FetchKey = Callable[[str], Mapping[str, Any] | None]


@dataclass(frozen=True)
class Verified:
    key_id: str
    issued_at: datetime
    jwt_sha256: str  # identifies this exact delivery: a replay carries the same JWT


@dataclass
class _CachedKey:
    jwk: Mapping[str, Any]
    key: Any  # the public key object PyJWT verifies with
    fetched_at: float

    @property
    def expired(self) -> bool:
        return self.jwk.get("expired_at") is not None


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; :meth:`take` spends one. Not
    thread-safe: callers hold their own lock."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._clock = clock
        self._at = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


def _public_key(jwk: Mapping[str, Any]) -> Any:
    """The EC P-256 public key of a JWK, or None when the JWK is not one."""
    if (jwk.get("kty"), jwk.get("crv"), jwk.get("alg")) != ("EC", "P-256", ALGORITHM):
        return None
    try:
        return jwt.PyJWK(dict(jwk), algorithm=ALGORITHM).key
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
        return None


class WebhookVerifier:
    """Verifies ``Plaid-Verification`` JWTs against keys fetched by ``kid`` (thread-safe)."""

    def __init__(
        self,
        fetch_key: FetchKey,
        *,
        clock: Callable[[], float] = time.time,
        refresh_seconds: float = 3600.0,
        key_lookups_per_minute: float = 30.0,
    ) -> None:
        self._fetch = fetch_key
        self._clock = clock
        self._refresh_seconds = refresh_seconds
        self._cache: dict[str, _CachedKey] = {}
        self._unknown: dict[str, float] = {}  # kid -> when Plaid said it does not know it
        self._lookups = TokenBucket(key_lookups_per_minute / 60, key_lookups_per_minute, clock)
        self._lock = threading.Lock()

    def verify(self, header: str | None, body: bytes) -> Verified:
        if not header:
            raise VerificationError(401, "no Plaid-Verification header")
        if len(header) > MAX_JWT_CHARS:
            raise VerificationError(401, "Plaid-Verification header too long")
        try:
            jwt_header = jwt.get_unverified_header(header)
        except jwt.DecodeError:
            raise VerificationError(401, "Plaid-Verification is not a JWT") from None
        if jwt_header.get("alg") != ALGORITHM:
            raise VerificationError(401, "JWT algorithm is not ES256")
        kid = jwt_header.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > _MAX_KID_CHARS:
            raise VerificationError(401, "JWT has no usable kid")
        cached = self._key(kid)
        if cached is None:
            raise VerificationError(401, "unknown verification key id")
        if cached.expired:
            raise VerificationError(401, "verification key has expired")
        try:
            claims = jwt.decode(
                header, key=cached.key, algorithms=[ALGORITHM],
                # iat is checked below, against this verifier's clock
                options={"require": ["iat"], "verify_iat": False, "verify_aud": False,
                         "verify_iss": False},
            )
        except jwt.InvalidTokenError as exc:
            raise VerificationError(401, f"JWT rejected ({type(exc).__name__})") from None
        issued = claims.get("iat")
        if isinstance(issued, bool) or not isinstance(issued, int | float):
            raise VerificationError(401, "JWT iat is not a number")
        now = self._clock()
        if issued < now - MAX_AGE_SECONDS:
            raise VerificationError(401, "JWT is older than 5 minutes")
        if issued > now + FUTURE_LEEWAY_SECONDS:
            raise VerificationError(401, "JWT iat is in the future")
        claimed = claims.get("request_body_sha256")
        if not isinstance(claimed, str):
            raise VerificationError(401, "JWT has no request_body_sha256")
        actual = hashlib.sha256(body).hexdigest()
        if not hmac.compare_digest(actual.encode(), claimed.encode("utf-8", "replace")):
            raise VerificationError(401, "body does not match request_body_sha256")
        return Verified(
            key_id=kid,
            issued_at=datetime.fromtimestamp(issued, UTC),
            jwt_sha256=hashlib.sha256(header.encode()).hexdigest(),
        )

    # --- the key cache -----------------------------------------------------------------------

    def _key(self, kid: str) -> _CachedKey | None:
        with self._lock:
            now = self._clock()
            cached = self._cache.get(kid)
            if cached is not None:
                if cached.expired or now - cached.fetched_at < self._refresh_seconds:
                    return cached
                try:
                    self._refresh(kid, now)
                except KeyUnavailable:
                    return cached  # Plaid unreachable: the key we have is still the best answer
                return self._cache.get(kid)
            if now - self._unknown.get(kid, -UNKNOWN_KID_SECONDS) < UNKNOWN_KID_SECONDS:
                return None
            self._refresh(kid, now)
            # Plaid's example: a new kid (a key rotation) refreshes the keys not known expired.
            for other in [k for k, c in self._cache.items() if not c.expired and k != kid]:
                try:
                    self._refresh(other, now)
                except KeyUnavailable:
                    break
            return self._cache.get(kid)

    def _refresh(self, kid: str, now: float) -> None:
        if not self._lookups.take():
            log.warning("webhook key look-ups throttled", extra={"key_id": kid})
            raise KeyUnavailable("too many key look-ups")
        jwk = self._fetch(kid)
        if jwk is None:
            self._cache.pop(kid, None)
            self._unknown[kid] = now
            if len(self._unknown) > 1000:  # bounded memory against sprayed kids
                oldest = sorted(self._unknown, key=self._unknown.__getitem__)[:500]
                for key_id in oldest:
                    del self._unknown[key_id]
            return
        key = _public_key(jwk)
        if key is None or jwk.get("kid") != kid:
            log.warning("webhook verification key unusable", extra={"key_id": kid})
            self._cache.pop(kid, None)
            self._unknown[kid] = now
            return
        self._unknown.pop(kid, None)
        self._cache[kid] = _CachedKey(dict(jwk), key, now)
        log.info("webhook verification key cached", extra={
            "key_id": kid, "expired": jwk.get("expired_at") is not None})


def parse_webhook(body: bytes) -> dict[str, Any]:
    """The verified body as a JSON object; ValueError when it is not one."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("body is not JSON") from None
    if not isinstance(document, dict):
        raise ValueError("body is not a JSON object")
    return document


def plaid_key_fetcher(gateway: PlaidGateway) -> FetchKey:
    """Keys from Plaid's ``/webhook_verification_key/get``, asked once (no retry: the sender is
    waiting, and a 503 makes Plaid deliver again later). A 400 (``INVALID_WEBHOOK_VERIFICATION_
    KEY_ID``, or a kid from another environment) means Plaid does not know the kid."""

    def fetch(key_id: str) -> Mapping[str, Any] | None:
        try:
            return gateway.webhook_verification_key_get(key_id, retry=False)
        except PlaidCallError as exc:
            if exc.http_status == 400:
                if exc.error_code != "INVALID_WEBHOOK_VERIFICATION_KEY_ID":
                    log.warning("webhook key look-up refused", extra={
                        "error_code": exc.error_code})
                return None
            log.warning("webhook key look-up failed", extra={"error_code": exc.error_code})
            raise KeyUnavailable(exc.error_code) from None

    return fetch
