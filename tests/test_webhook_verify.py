"""The verifier's key cache, against a fake /webhook_verification_key/get and a fake clock."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from recon.webhooks.verify import KeyUnavailable, VerificationError, WebhookVerifier

BODY = b'{\n  "webhook_type": "TRANSACTIONS"\n}'


class Plaid:
    """Keys by kid, and every look-up it was asked for."""

    def __init__(self) -> None:
        self.keys: dict[str, dict[str, Any]] = {}
        self.private: dict[str, ec.EllipticCurvePrivateKey] = {}
        self.asked: list[str] = []
        self.down = False

    def add(self, kid: str) -> None:
        private = ec.generate_private_key(ec.SECP256R1())
        public = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
        self.keys[kid] = {**public, "alg": "ES256", "kid": kid, "use": "sig",
                          "created_at": 1_700_000_000, "expired_at": None}
        self.private[kid] = private

    def fetch(self, kid: str) -> Mapping[str, Any] | None:
        self.asked.append(kid)
        if self.down:
            raise KeyUnavailable("API_ERROR")
        return self.keys.get(kid)

    def sign(self, kid: str, iat: float, body: bytes = BODY) -> str:
        claims = {"iat": int(iat), "request_body_sha256": hashlib.sha256(body).hexdigest()}
        return jwt.encode(claims, self.private[kid], algorithm="ES256", headers={"kid": kid})


@pytest.fixture
def plaid() -> Plaid:
    fake = Plaid()
    fake.add("k1")
    return fake


def test_a_key_is_fetched_once_and_refreshed_after_an_hour(plaid: Plaid) -> None:
    now = [1_800_000_000.0]
    verifier = WebhookVerifier(plaid.fetch, clock=lambda: now[0], refresh_seconds=3600)
    for _ in range(5):
        assert verifier.verify(plaid.sign("k1", now[0]), BODY).key_id == "k1"
    assert plaid.asked == ["k1"]
    now[0] += 3601
    plaid.down = True  # Plaid unreachable: the cached key still verifies
    verifier.verify(plaid.sign("k1", now[0]), BODY)
    plaid.down = False
    plaid.keys["k1"]["expired_at"] = int(now[0])  # rotated out meanwhile
    now[0] += 3601
    with pytest.raises(VerificationError, match="verification key has expired"):
        verifier.verify(plaid.sign("k1", now[0]), BODY)
    assert plaid.asked == ["k1", "k1", "k1"]


def test_a_new_kid_refreshes_the_other_cached_keys(plaid: Plaid) -> None:
    now = 1_800_000_000.0
    verifier = WebhookVerifier(plaid.fetch, clock=lambda: now)
    verifier.verify(plaid.sign("k1", now), BODY)
    plaid.keys["k1"]["expired_at"] = int(now)
    plaid.add("k2")
    verifier.verify(plaid.sign("k2", now), BODY)
    assert plaid.asked == ["k1", "k2", "k1"]  # Plaid's example: refresh the unexpired ones
    with pytest.raises(VerificationError, match="expired"):
        verifier.verify(plaid.sign("k1", now), BODY)
    assert plaid.asked == ["k1", "k2", "k1"]  # an expired key is not asked for again


def test_an_unknown_kid_is_asked_for_once_a_minute_and_look_ups_are_rate_limited(
        plaid: Plaid) -> None:
    now = [1_800_000_000.0]
    verifier = WebhookVerifier(plaid.fetch, clock=lambda: now[0], key_lookups_per_minute=2)
    forged = jwt.encode({"iat": int(now[0]), "request_body_sha256": "x"},
                        ec.generate_private_key(ec.SECP256R1()), algorithm="ES256",
                        headers={"kid": "ghost"})
    for _ in range(3):
        with pytest.raises(VerificationError, match="unknown verification key id"):
            verifier.verify(forged, BODY)
    assert plaid.asked == ["ghost"]
    now[0] += 61
    with pytest.raises(VerificationError):
        verifier.verify(forged, BODY)
    assert plaid.asked == ["ghost", "ghost"]
    for kid in ("a", "b"):  # sprayed kids use up the look-up budget: 503, Plaid retries
        sprayed = jwt.encode({"iat": int(now[0])}, ec.generate_private_key(ec.SECP256R1()),
                             algorithm="ES256", headers={"kid": kid})
        with pytest.raises((VerificationError, KeyUnavailable)):
            verifier.verify(sprayed, BODY)
    assert plaid.asked == ["ghost", "ghost", "a"]


def test_a_key_that_is_not_an_es256_p256_jwk_is_not_used(plaid: Plaid) -> None:
    now = 1_800_000_000.0
    plaid.keys["k1"]["crv"] = "P-384"
    verifier = WebhookVerifier(plaid.fetch, clock=lambda: now)
    with pytest.raises(VerificationError, match="unknown verification key id"):
        verifier.verify(plaid.sign("k1", now), BODY)
