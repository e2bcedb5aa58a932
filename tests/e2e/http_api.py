"""The client side: payments POSTed over HTTP to the emulator's API Gateway with an API key,
every answer parsed as JSON and kept (the invariant and the contract table read them)."""

import json
import os
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "emulator"))
import up  # noqa: E402  (the same HTTP client as `cargo xtask up`)

NO_KEY = object()


class Answer:
    """One HTTP answer. `body` is the parsed JSON (None when the body is not JSON)."""

    def __init__(self, status, headers, text, elapsed_ms):
        self.status, self.headers, self.text, self.elapsed_ms = status, headers, text, elapsed_ms
        try:
            self.body = json.loads(text)
        except ValueError:
            self.body = None

    @property
    def json_ok(self):
        return isinstance(self.body, dict)

    def get(self, key, default=None):
        return self.body.get(key, default) if self.json_ok else default

    @property
    def keys(self):
        return sorted(self.body) if self.json_ok else []

    def __repr__(self):
        return f"{self.status} {self.text[:160]}"


def payment(**changes):
    """An approvable payment of merchant-001 with a fresh id and card."""
    return up.payment(**changes)


def new_id():
    return str(uuid.uuid4())


class Api:
    """POST /transactions of the deployed stage, with the onboarded merchants' keys."""

    def __init__(self, endpoint, onboarded):
        self.url = endpoint["url"]
        self.keys = {merchant: entry["api_key"] for merchant, entry in onboarded.items()}
        self.key_ids = {merchant: entry["api_key_id"] for merchant, entry in onboarded.items()}
        self.sent = []  # (transaction_id or None, Answer), every request of the run
        self.retried = []  # (transaction_id, status, error) of every answer `pay` retried
        self._lock = threading.Lock()

    def post(self, body=None, key=None, raw=None, merchant="merchant-001"):
        """`key`: a key value, NO_KEY for none, or None for the merchant's own key."""
        if key is NO_KEY:
            api_key = None
        else:
            api_key = key if key is not None else self.keys[merchant]
        status, headers, text, elapsed = up.post(self.url, api_key, body=body, raw=raw)
        answer = Answer(status, headers, text, elapsed)
        tid = body.get("transaction_id") if isinstance(body, dict) else None
        with self._lock:
            self.sent.append((tid, answer))
        return answer

    def pay(self, body, key=None, merchant="merchant-001", attempts=4):
        """POST as a client following the contract: an answer that says to retry with the same
        transaction_id (502/503/504 with a `retry` field) is sent again, a second later, up to
        `attempts` times. Every retry is kept in `retried` (printed: the emulator's load decides
        how many, so they stay out of the deterministic evidence)."""
        answer = self.post(body, key=key, merchant=merchant)
        for _ in range(attempts - 1):
            if answer.status not in (502, 503, 504) or not answer.get("retry"):
                break
            with self._lock:
                self.retried.append((body.get("transaction_id"), answer.status, answer.get("error")))
            time.sleep(1.0)
            answer = self.post(body, key=key, merchant=merchant)
        return answer
