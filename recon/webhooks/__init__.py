"""Plaid webhooks: verified on arrival, turned into durable sync jobs and item health.

- :mod:`recon.webhooks.verify`: the ``Plaid-Verification`` JWT checked the way Plaid documents it
  (ES256 only, key by ``kid`` from ``/webhook_verification_key/get`` with a cache that honours
  ``expired_at``, ``iat`` at most 5 minutes old, the body's SHA-256 compared in constant time);
- :mod:`recon.webhooks.queue`: the sync queue, dead letters and the log of verified webhooks in
  the state store (SQLite or PostgreSQL);
- :mod:`recon.webhooks.handle`: what a verified webhook changes (a queued sync, an item's health);
- :mod:`recon.webhooks.worker`: drains the queue under the single-instance run lock;
- :mod:`recon.webhooks.server`: the ASGI service behind ``recon webhooks serve``.
"""
