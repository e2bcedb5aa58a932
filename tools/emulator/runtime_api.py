"""The Lambda Runtime API of one execution environment, served on a loopback port for as long
as the environment lives (Lambda guide, "Using the Lambda runtime API for custom runtimes",
https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html):

* `GET /2018-06-01/runtime/invocation/next` hands the runtime its next event, with the
  Lambda-Runtime-Aws-Request-Id, -Deadline-Ms, -Invoked-Function-Arn and -Trace-Id headers.
  It blocks until an invocation is assigned to this environment: it never answers without
  one (a runtime asking again after its answer is simply waiting for the next event);
* `POST .../invocation/{id}/response` and `.../invocation/{id}/error` complete that invocation;
* `POST .../runtime/init/error` reports a failed initialization: the environment is retired.

"The runtime and each extension indicate completion by sending a Next API request. Lambda
freezes the execution environment when the runtime and each extension have completed and
there are no pending events" ("Understanding the Lambda execution environment lifecycle",
https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html): a runtime
waiting in /next with nothing to hand it is frozen (`freeze`), and thawed before it gets its
event (`thaw`)."""

import http.server
import json
import threading
import time

TRACE_ID = "Root=1-00000000-000000000000000000000000"


class Invocation:
    """One event for one environment, and what became of it."""

    def __init__(self, request_id, payload, timeout_s, function_arn, on_delivered=None):
        self.request_id, self.payload, self.timeout_s = request_id, payload, timeout_s
        self.function_arn = function_arn
        self.on_delivered = on_delivered  # called when the runtime receives the event
        self.delivered_at = None
        self.answer = None  # (body, errored)
        self.done = threading.Event()

    @property
    def deadline(self):
        return None if self.delivered_at is None else self.delivered_at + self.timeout_s


class RuntimeApi(http.server.ThreadingHTTPServer):
    daemon_threads = True  # a handler blocked in /next must not keep the emulator alive

    def __init__(self, freeze=lambda: None, thaw=lambda: None):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.freeze, self.thaw = freeze, thaw
        self.changed = threading.Condition()
        self.pending = None  # assigned, not yet handed to the runtime
        self.current = None  # handed to the runtime, not yet answered
        self.first_next_at = None  # the end of the environment's Init phase
        self.waiting = False  # the runtime is blocked in /next
        self.init_error = None
        self.closed = False
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def handle_error(self, request, client_address):
        """A runtime ended while its answer was on the way (a reset environment): nothing to
        report."""

    @property
    def address(self):
        return f"127.0.0.1:{self.server_address[1]}"

    def assign(self, invocation):
        with self.changed:
            self.pending = invocation
            self.changed.notify_all()

    def close(self):
        """Wakes any handler still blocked in /next (it then closes its connection unanswered:
        the process was ended first) and stops serving."""
        with self.changed:
            self.closed = True
            self.changed.notify_all()
        self.shutdown()
        self.server_close()

    def next_invocation(self):
        """Blocks until an invocation is assigned (or the environment is closed: None)."""
        with self.changed:
            if self.first_next_at is None:
                self.first_next_at = time.time()
            self.waiting = True
            frozen = False
            while self.pending is None and not self.closed:
                if not frozen:
                    self.freeze()
                    frozen = True
                self.changed.wait()
            self.waiting = False
            if self.closed:
                return None
            if frozen:
                self.thaw()
            invocation, self.pending, self.current = self.pending, None, self.pending
            invocation.delivered_at = time.time()
            if invocation.on_delivered is not None:
                invocation.on_delivered(invocation)
            return invocation

    def complete(self, request_id, body, errored):
        with self.changed:
            invocation = self.current
            if invocation is None or invocation.request_id != request_id:
                return False
            self.current = None
            invocation.answer = (body, errored)
            invocation.done.set()
            self.changed.notify_all()
            return True

    def fail_init(self, body):
        with self.changed:
            self.init_error = body
            self.changed.notify_all()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the runtimes' HTTP clients expect
    # Headers and body go out in two writes: with Nagle's algorithm the second waits for the
    # runtime's delayed ACK (40 ms on Linux) on a reused connection.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def _answer(self, status, body=b""):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if not self.path.endswith("/runtime/invocation/next"):
            return self._answer(404)
        api = self.server
        invocation = api.next_invocation()
        if invocation is None:
            self.close_connection = True
            return None
        body = invocation.payload.encode()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", invocation.request_id)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(invocation.deadline * 1000)))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", invocation.function_arn)
        self.send_header("Lambda-Runtime-Trace-Id", TRACE_ID)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return None

    def do_POST(self):
        api = self.server
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode() if length else ""
        parts = self.path.rstrip("/").split("/")
        if self.path.endswith("/runtime/init/error"):
            api.fail_init(body or _error(self.headers.get("Lambda-Runtime-Function-Error-Type")))
            return self._answer(202)
        if len(parts) >= 2 and parts[-1] in ("response", "error") and "invocation" in parts:
            request_id = parts[-2]
            errored = parts[-1] == "error"
            if errored and not body:
                body = _error(self.headers.get("Lambda-Runtime-Function-Error-Type"))
            if api.complete(request_id, body, errored):
                return self._answer(202)
            # The runtime API's answer to an unknown or already answered request id.
            return self._answer(400, json.dumps({"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}).encode())
        return self._answer(404)


def _error(error_type):
    return json.dumps({"errorType": error_type or "Runtime.Unknown", "errorMessage": ""})
