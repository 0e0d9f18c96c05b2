"""A real HTTP server speaking the Custom Vision Prediction API v3.0 (object detection).

Runs on 127.0.0.1 on a free port in a background thread. It checks what the real service checks
(path, ``Prediction-Key``, body size, that the body is an image) and can be scripted to answer
throttling, server errors, slow responses and dropped connections before answering normally.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

MAX_IMAGE_BYTES = 4 * 1024 * 1024
_PATH = re.compile(
    r"^/customvision/v3\.0/[Pp]rediction/(?P<project>[^/]+)/detect/iterations/(?P<name>[^/]+)"
    r"/image(?P<nostore>/nostore)?$"
)


@dataclass
class Reply:
    """One scripted answer. ``status=None`` with ``drop=True`` closes the connection unanswered."""

    status: int = 200
    body: Any = None  # None = the normal prediction response (for 200) or a generic error
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drop: bool = False


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    image_size: tuple[int, int] | None


class FakeCustomVision:
    def __init__(
        self,
        *,
        project_id: str = "3b8e2f4c-0000-4000-8000-000000000001",
        published_name: str = "shelf-v1",
        prediction_key: str = "test-key",
        predictions: list[dict[str, Any]] | None = None,
    ) -> None:
        self.project_id = project_id
        self.published_name = published_name
        self.prediction_key = prediction_key
        self.predictions = predictions or []
        self.script: deque[Reply] = deque()
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def __enter__(self) -> FakeCustomVision:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def then(self, *replies: Reply) -> FakeCustomVision:
        """Answer the next requests with these, in order, before answering normally."""
        with self._lock:
            self.script.extend(replies)
        return self

    def _next_reply(self) -> Reply | None:
        with self._lock:
            return self.script.popleft() if self.script else None

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def prediction_body(self) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()),
            "project": self.project_id,
            "iteration": "9f0c7a1e-0000-4000-8000-000000000002",
            "created": "2024-01-01T00:00:00Z",
            "predictions": [
                {"tagId": str(uuid.uuid5(uuid.NAMESPACE_OID, p["tagName"])), "tagType": "Regular"}
                | p
                for p in self.predictions
            ],
        }

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            def _error(self, status: int, code: str, message: str, **headers: str) -> None:
                self._send(status, {"code": code, "message": message}, headers)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                image_size = None
                try:
                    with Image.open(io.BytesIO(body)) as image:
                        image_size = image.size
                except Exception:
                    pass
                fake._record(
                    RecordedRequest("POST", self.path, dict(self.headers), body, image_size)
                )
                reply = fake._next_reply()
                if reply is not None:
                    if reply.delay_s:
                        time.sleep(reply.delay_s)
                    if reply.drop:
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    if reply.status != 200 or reply.body is not None:
                        default = {"code": f"Http{reply.status}", "message": "scripted reply"}
                        body_out = reply.body if reply.body is not None else default
                        self._send(reply.status, body_out, reply.headers)
                        return
                self._answer(body, image_size)

            def _answer(self, body: bytes, image_size: tuple[int, int] | None) -> None:
                if self.headers.get("Prediction-Key") != fake.prediction_key:
                    self._error(
                        401,
                        "401",
                        "Access denied due to invalid subscription key or wrong API endpoint.",
                    )
                    return
                match = _PATH.match(self.path.split("?", 1)[0])
                if match is None:
                    self._error(404, "NotFound", f"Resource not found: {self.path}")
                    return
                if match["project"] != fake.project_id:
                    self._error(404, "BadRequestProjectNotFound", "Project not found")
                    return
                if match["name"] != fake.published_name:
                    self._error(
                        404, "BadRequestPublishedIterationNotFound", "Iteration not published"
                    )
                    return
                if len(body) > MAX_IMAGE_BYTES:
                    self._error(400, "BadRequestImageSizeBytes", "Image size is too large.")
                    return
                if image_size is None:
                    self._error(400, "BadRequestImageFormat", "Bad Request Image Format")
                    return
                self._send(200, fake.prediction_body())

        return Handler
