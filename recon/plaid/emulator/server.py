"""HTTP front of the emulator: a threaded server on 127.0.0.1 that plaid-python can call."""

from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from recon.plaid.emulator.faults import DropConnection
from recon.plaid.emulator.objects import PlaidApiError, dumps, new_request_id
from recon.plaid.emulator.state import Emulator

log = logging.getLogger(__name__)

_MAX_BODY_BYTES = 10 * 1024 * 1024
_IDLE_CONNECTION_SECONDS = 60


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Idle keep-alive connections must not make stop() wait for their handler threads.
    block_on_close = False

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and went away is normal in fault tests; never print a traceback
        # (which could hold request data) to stderr.
        log.debug("emulator connection to %s failed", client_address[0])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "PlaidEmulator/1"
    timeout = _IDLE_CONNECTION_SECONDS
    # TCP_NODELAY: headers and body go out as two writes; with Nagle on, the body of a small
    # response waited for the client's delayed ACK (~40 ms a call on Linux loopback).
    disable_nagle_algorithm = True
    server: _Server

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= _MAX_BODY_BYTES:
            error = PlaidApiError("INVALID_BODY", "request body has an invalid length")
            self._reply(error.status, dumps(error.body(new_request_id())))
            self.close_connection = True
            return
        body = self.rfile.read(length)
        headers = dict(self.headers.items())
        path = self.path.split("?", 1)[0]
        try:
            status, payload = self.server.emulator.handle(path, headers, body)
        except DropConnection:
            log.debug("emulator %s -> connection dropped", path)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._reply(status, payload)

    def do_GET(self) -> None:
        error = PlaidApiError("NOT_FOUND")
        self._reply(error.status, dumps(error.body(new_request_id())))

    def _reply(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        # The default writes the request line to stderr; requests carry no secrets in the path,
        # but keep it at DEBUG and path-only anyway.
        log.debug("emulator request %s", self.path.split("?", 1)[0])


class EmulatorServer:
    """HTTP server on 127.0.0.1 in a daemon thread; a context manager. port=0 picks a free port."""

    def __init__(self, emulator: Emulator, port: int = 0) -> None:
        self.emulator = emulator
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> EmulatorServer:
        if self._server is not None:
            return self
        self._server = _Server(("127.0.0.1", self._port), self.emulator)
        host, port = self._server.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        # A short poll interval keeps stop() quick (tests start and stop many servers).
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="plaid-emulator", daemon=True)
        self._thread.start()
        log.debug("emulator listening on %s", self.url)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None
        self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


def serve(fixtures_path: Path, port: int, *, client_id: str, secret: str,
          webhook_url: str | None = None) -> None:
    """Serve the fixtures on 127.0.0.1:port until interrupted (for ``recon emulator serve``)."""
    emulator = Emulator.from_file(fixtures_path, client_id=client_id, secret=secret,
                                  webhook_url=webhook_url)
    server = _Server(("127.0.0.1", port), emulator)
    log.info("Plaid emulator listening on http://127.0.0.1:%d", server.server_address[1])
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("Plaid emulator stopped")
    finally:
        server.server_close()
