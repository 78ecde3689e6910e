"""A stand-in for the pre-signed ResponseURL a custom resource answers CloudFormation on."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Capture(BaseHTTPRequestHandler):
    def do_PUT(self):  # noqa: N802 - the name http.server calls
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.server.received.set()

    def log_message(self, *args):
        pass


class ResponseListener:
    """A local HTTP server that keeps every PUT: `url` to give as ResponseURL, `requests`, `received` (an Event)."""

    def __enter__(self) -> ResponseListener:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
        self._server.requests = []
        self._server.received = threading.Event()
        self.requests, self.received = self._server.requests, self._server.received
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/cfn-response?signature=abc"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
