"""A stand-in OpenAI-compatible chat-completions endpoint on 127.0.0.1 that can answer, or hang."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeLLM:
    """Replies with ``reply`` after ``hang`` seconds (cut short by :meth:`release`) and records requests."""

    def __init__(self, reply: str = "", hang: float = 0.0) -> None:
        self.reply, self.hang = reply, hang
        self.requests: list[dict[str, Any]] = []
        self.answered = 0
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> FakeLLM:
        self._thread.start()
        return self

    def release(self) -> None:
        """End every hang now."""
        self._release.set()

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        llm = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with llm._lock:
                    llm.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                if llm.hang:
                    llm._release.wait(llm.hang)
                data = json.dumps({"choices": [{"message": {"role": "assistant", "content": llm.reply}}]})
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(data.encode())
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client gave up (its timeout)
                with llm._lock:
                    llm.answered += 1

            def log_message(self, *args: Any) -> None:
                pass

        return Handler
