"""What the Python SDK scripts share (python_sdk.py, interop.py, durability.py): the queue and connection string
the Rust test passes, a client that does not retry, and the checks every scenario uses.

  SB_CONNECTION_STRING  the emulator-style connection string (UseDevelopmentEmulator=true)
  SB_QUEUE              the queue
  SB_DEBUG              set: the SDK's debug log on stderr
"""

import json
import os
import time

from azure.servicebus import ServiceBusClient

if os.environ.get("SB_DEBUG"):
    import logging

    logging.basicConfig(level=logging.DEBUG)

CONN = os.environ["SB_CONNECTION_STRING"]
QUEUE = os.environ["SB_QUEUE"]


def client(conn=CONN):
    # No retries: a refused operation must fail at once, not after back-off.
    return ServiceBusClient.from_connection_string(conn, retry_total=0)


def receive_one(receiver, wait=5):
    got = receiver.receive_messages(max_message_count=1, max_wait_time=wait)
    assert len(got) == 1, f"expected one message, got {len(got)}"
    return got[0]


def complete_all(receiver, count, wait, within=10):
    """Receive and complete messages until `count` arrived (or `within` seconds passed, each
    receive waiting at most `wait`); their bodies, in order."""
    bodies = []
    deadline = time.time() + within
    while len(bodies) < count and time.time() < deadline:
        for m in receiver.receive_messages(max_message_count=5, max_wait_time=wait):
            bodies.append(str(m))
            receiver.complete_message(m)
    return bodies


def expect_refused(error, what, action, check=None):
    """Run `action()`: it must raise `error` (and pass `check(e)` when given), else `what` was
    accepted and the scenario fails."""
    try:
        action()
    except error as e:
        if check:
            check(e)
        print("refused as expected:", e)
        return
    raise AssertionError(f"{what} was not refused")


def text(v):
    return v.decode() if isinstance(v, bytes) else v


def message_json(m):
    """A received message as the Rust tests read it: body, ids, content type, delivery count and
    custom properties, one JSON line."""
    return json.dumps(
        {
            "body": str(m),
            "messageId": m.message_id,
            "contentType": m.content_type,
            "correlationId": m.correlation_id,
            "deliveryCount": m.delivery_count,
            "properties": {text(k): text(v) for k, v in (m.application_properties or {}).items()},
        }
    )
