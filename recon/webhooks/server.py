"""The ASGI service behind ``recon webhooks serve`` (Starlette, served by Uvicorn).

``POST <webhooks.path>`` takes a Plaid webhook; ``GET /healthz`` answers ``ok``. Before a byte
of the body is read, the sender's rate is checked (a token bucket for all senders and one per
client address: 429) and ``Content-Length`` is checked against ``max_body_bytes`` (413); the
body is then read up to that bound (a chunked body that grows past it is cut off with 413).
Verification, parsing and the database write run in a worker thread:

=====  ==========================================================================
200    verified and handled (queued, folded into a queued sync, item updated,
       unknown item or nothing to do: Plaid must not retry any of these)
400    verified, but the body is not a webhook recon can read
401    not verified: no or bad signature, not ES256, unknown or expired key, iat
       older than 5 minutes, body hash mismatch, or a replay of a processed request
413    body larger than ``max_body_bytes``
429    over the request rate
503    Plaid could not be asked for the verification key, or the state store is
       unavailable, right now (nothing was written; Plaid retries)
=====  ==========================================================================

Every refused request gets exactly one WARNING line naming the reason and the client address,
never the body or the JWT; it changes nothing in the state store.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Any

import uvicorn
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from recon.config import WebhooksConfig
from recon.webhooks.handle import MalformedWebhook, Replayed, apply_webhook, read_webhook
from recon.webhooks.verify import (
    KeyUnavailable,
    TokenBucket,
    VerificationError,
    WebhookVerifier,
    parse_webhook,
)

log = logging.getLogger(__name__)

_MAX_TRACKED_CLIENTS = 1024
_MAX_CONCURRENT_REQUESTS = 64


def _bucket(per_second: float, clock: Callable[[], float]) -> TokenBucket:
    return TokenBucket(per_second, max(1.0, 2 * per_second), clock)


class RateLimit:
    """Token buckets (burst = two seconds' worth): one for all senders, one per client."""

    def __init__(self, per_second: float, per_client_per_second: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._all = _bucket(per_second, clock)
        self._per_client = per_client_per_second
        self._clients: OrderedDict[str, TokenBucket] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        with self._lock:
            bucket = self._clients.pop(client, None) or _bucket(self._per_client, self._clock)
            self._clients[client] = bucket
            while len(self._clients) > _MAX_TRACKED_CLIENTS:
                self._clients.popitem(last=False)
            return bucket.take() and self._all.take()


class WebhookService:
    """Verify, read and apply one webhook; returns (HTTP status, JSON answer)."""

    def __init__(self, verifier: WebhookVerifier, engine: Engine, *,
                 clock: Callable[[], datetime], on_queued: Callable[[], None]) -> None:
        self._verifier = verifier
        self._engine = engine
        self._clock = clock
        self._on_queued = on_queued

    def process(self, header: str | None, body: bytes, client: str) -> tuple[int, dict[str, Any]]:
        try:
            verified = self._verifier.verify(header, body)
        except VerificationError as exc:
            return _refused(exc.status, exc.reason, client)
        except KeyUnavailable:
            return _refused(503, "verification key unavailable; retry later", client)
        try:
            webhook = read_webhook(parse_webhook(body))
        except (ValueError, MalformedWebhook) as exc:
            return _refused(400, str(exc), client)
        try:
            outcome = apply_webhook(self._engine, webhook, verified, now=self._clock())
        except Replayed:
            return _refused(401, "replay of a request already processed", client)
        except SQLAlchemyError as exc:  # nothing was written; Plaid delivers it again later
            return _refused(503, f"state store unavailable ({type(exc).__name__})", client)
        log.info("webhook accepted", extra={
            "webhook_type": webhook.webhook_type, "webhook_code": webhook.webhook_code,
            "item_id": webhook.item_id, "outcome": outcome, "client": client})
        if outcome in ("queued", "folded"):
            self._on_queued()
        return 200, {"status": outcome}


def _refused(status: int, reason: str, client: str) -> tuple[int, dict[str, Any]]:
    log.warning("webhook refused", extra={"status": status, "reason": reason, "client": client})
    return status, {"error": reason}


def create_app(service: WebhookService, config: WebhooksConfig,
               rate_limit: RateLimit | None = None) -> Starlette:
    limit = rate_limit or RateLimit(config.max_requests_per_second,
                                    config.max_requests_per_second_per_client)
    max_bytes = config.max_body_bytes

    async def receive(request: Request) -> Response:
        client = request.client.host if request.client else "-"
        if not limit.allow(client):
            status, answer = _refused(429, "too many requests", client)
            return JSONResponse(answer, status, headers={"Retry-After": "1"})
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
            status, answer = _refused(413, f"body larger than {max_bytes} bytes", client)
            return JSONResponse(answer, status)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_bytes:
                status, answer = _refused(413, f"body larger than {max_bytes} bytes", client)
                return JSONResponse(answer, status, headers={"Connection": "close"})
        header = request.headers.get("plaid-verification")
        status, answer = await run_in_threadpool(service.process, header, bytes(body), client)
        return JSONResponse(answer, status)

    async def health(_request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=[
        Route(config.path, receive, methods=["POST"]),
        Route("/healthz", health, methods=["GET"]),
    ])


def _uvicorn_config(app: Starlette) -> uvicorn.Config:
    return uvicorn.Config(
        app, log_config=None, access_log=False, server_header=False, date_header=False,
        proxy_headers=False, limit_concurrency=_MAX_CONCURRENT_REQUESTS, timeout_keep_alive=5,
        h11_max_incomplete_event_size=16 * 1024,
    )


def serve_forever(app: Starlette, host: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM, then return (open requests finish first).

    Uvicorn handles the signal, shuts down gracefully, then raises it again for the handler
    that was installed before it: a no-op here, so this returns and the caller can let the
    queue worker finish its current sync instead of the process dying mid-sync.
    """
    server = uvicorn.Server(_uvicorn_config(app))
    stops: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: stops.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with _bound(host, port) as sock:
            log.info("webhook server listening",
                     extra={"host": host, "port": sock.getsockname()[1]})
            server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("webhook server stopped", extra={"signals": stops})


def _bound(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say so; without it a
    # keep-alive answer waited ~40 ms for the sender's delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


class BackgroundServer:
    """The app on 127.0.0.1 in a thread (tests and the demo); port 0 picks a free port."""

    def __init__(self, app: Starlette, port: int = 0) -> None:
        self._server = uvicorn.Server(_uvicorn_config(app))
        self._socket = _bound("127.0.0.1", port)
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._thread = threading.Thread(target=self._server.run, kwargs={
            "sockets": [self._socket]}, name="recon-webhooks", daemon=True)

    def __enter__(self) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the webhook server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._socket.close()
