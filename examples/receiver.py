"""A webhook receiver for the demo: checks each notification's signature, then logs it.

Usage: python examples/receiver.py PORT LOG [SECRET_ENV]

Listens on 127.0.0.1:PORT. Each POST's ``X-Conveyor-Signature`` is verified with the secret
in the environment variable SECRET_ENV (``DEMO_HOOK_SECRET`` by default), as a real receiver
must: a body that does not verify gets 401 and is not logged. Each accepted notification is
appended to LOG as one line, ``<kind>  <summary>``, then the receiver answers 204.
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conveyor.notify import verify_signature


def handler(secret: str, log_path: str) -> type[BaseHTTPRequestHandler]:
    class Receive(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if not verify_signature(secret, self.headers.get("X-Conveyor-Signature"), body):
                self.send_response(401)
                self.end_headers()
                return
            note = json.loads(body)
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(f"{note['kind']}  {note['summary']}\n")
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass  # the log file is the output

    return Receive


def main() -> None:
    port, log_path = int(sys.argv[1]), sys.argv[2]
    secret = os.environ[sys.argv[3] if len(sys.argv) > 3 else "DEMO_HOOK_SECRET"]
    ThreadingHTTPServer(("127.0.0.1", port), handler(secret, log_path)).serve_forever()


if __name__ == "__main__":
    main()
