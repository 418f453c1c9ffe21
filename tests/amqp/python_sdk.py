"""Scenarios run by Microsoft's Python Service Bus SDK (azure-servicebus, pure-Python AMQP)
against the project's AMQP front end. Driven by crates/broker/tests/amqp_python_sdk.rs, which
starts the server on loopback and passes:

  SB_CONNECTION_STRING  the emulator-style connection string (UseDevelopmentEmulator=true)
  SB_QUEUE              a queue that exists and is empty
  SB_DEDUP_QUEUE        an empty queue with duplicate detection, its window SB_DEDUP_WINDOW s
  SB_EXPIRING_QUEUE     an empty queue with DeadLetteringOnMessageExpiration (SB_QUEUE has not)
  SB_SEND_ONLY          the connection string of a rule with only Send rights
  SB_LISTEN_ONLY        the connection string of a rule with only Listen rights

(read by sdk_common.py, with the client and checks every scenario uses).

Usage: python python_sdk.py SCENARIO. Exit status 0 = the scenario held.
"""

import datetime
import os  # noqa: F401 (scenarios read their extra queues from the environment)
import sys
import time

from azure.servicebus import (
    ServiceBusMessage,
    ServiceBusReceiveMode,
    ServiceBusSubQueue,
)
from azure.servicebus.exceptions import (
    MessagingEntityNotFoundError,
    ServiceBusError,
    ServiceBusAuthenticationError,
    ServiceBusAuthorizationError,
    MessageSizeExceededError,
)

from sdk_common import CONN, QUEUE, client, complete_all, expect_refused, receive_one


def send_receive_complete():
    with client() as c:
        with c.get_queue_sender(QUEUE) as sender:
            sender.send_messages(
                ServiceBusMessage(
                    "hello",
                    message_id="m-1",
                    correlation_id="c-1",
                    subject="greeting",
                    content_type="text/plain",
                    reply_to="replies",
                    to="someone",
                    application_properties={"kind": "test", "n": 5},
                )
            )
        with c.get_queue_receiver(QUEUE) as receiver:
            m = receive_one(receiver)
            assert str(m) == "hello", str(m)
            assert m.message_id == "m-1"
            assert m.correlation_id == "c-1"
            assert m.subject == "greeting"
            assert m.content_type == "text/plain"
            assert m.reply_to == "replies"
            assert m.to == "someone"
            assert m.application_properties[b"kind"] == b"test", m.application_properties
            assert m.application_properties[b"n"] == 5
            assert m.delivery_count == 0, m.delivery_count
            assert m.sequence_number >= 1
            assert m.lock_token is not None
            assert m.locked_until_utc > datetime.datetime.now(datetime.timezone.utc)
            assert m.enqueued_time_utc is not None
            receiver.complete_message(m)
            assert receiver.receive_messages(max_message_count=1, max_wait_time=1) == []


def batch():
    with client() as c:
        with c.get_queue_sender(QUEUE) as sender:
            b = sender.create_message_batch()
            for i in range(3):
                b.add_message(ServiceBusMessage(f"b{i}", message_id=f"b{i}"))
            sender.send_messages(b)
            sender.send_messages([ServiceBusMessage("l0"), ServiceBusMessage("l1")])
        with c.get_queue_receiver(QUEUE) as receiver:
            bodies = complete_all(receiver, 5, wait=2)
            assert bodies == ["b0", "b1", "b2", "l0", "l1"], bodies


def abandon():
    with client() as c:
        with c.get_queue_sender(QUEUE) as sender:
            sender.send_messages(ServiceBusMessage("again"))
        with c.get_queue_receiver(QUEUE) as receiver:
            first = receive_one(receiver)
            assert first.delivery_count == 0
            receiver.abandon_message(first)
            second = receive_one(receiver)
            assert str(second) == "again"
            assert second.delivery_count == 1, second.delivery_count
            assert second.sequence_number == first.sequence_number
            assert second.lock_token != first.lock_token
            receiver.complete_message(second)


def dead_letter():
    with client() as c:
        with c.get_queue_sender(QUEUE) as sender:
            sender.send_messages(ServiceBusMessage("poison", message_id="p-1"))
        with c.get_queue_receiver(QUEUE) as receiver:
            m = receive_one(receiver)
            receiver.dead_letter_message(m, reason="bad-input", error_description="field x missing")
            assert receiver.receive_messages(max_message_count=1, max_wait_time=1) == []
        with c.get_queue_receiver(QUEUE, sub_queue=ServiceBusSubQueue.DEAD_LETTER) as dlq:
            d = receive_one(dlq)
            assert d.message_id == "p-1"
            assert d.dead_letter_reason == "bad-input", d.dead_letter_reason
            assert d.dead_letter_error_description == "field x missing"
            assert d.dead_letter_source == QUEUE, d.dead_letter_source
            dlq.complete_message(d)


def max_delivery_count():
    # The queue's MaxDeliveryCount is 10: the 10th abandon dead-letters the message.
    with client() as c:
        with c.get_queue_sender(QUEUE) as sender:
            sender.send_messages(ServiceBusMessage("hopeless"))
        with c.get_queue_receiver(QUEUE) as receiver:
            for attempt in range(10):
                m = receive_one(receiver)
                assert m.delivery_count == attempt, (m.delivery_count, attempt)
                receiver.abandon_message(m)
            assert receiver.receive_messages(max_message_count=1, max_wait_time=1) == []
        with c.get_queue_receiver(QUEUE, sub_queue=ServiceBusSubQueue.DEAD_LETTER) as dlq:
            d = receive_one(dlq)
            assert str(d) == "hopeless"
            assert d.dead_letter_reason == "MaxDeliveryCountExceeded", d.dead_letter_reason
            dlq.complete_message(d)


def session_receiver_refused():
    # Sessions are not supported yet: a session receiver is refused loudly, naming them.
    def receive():
        with client() as c, c.get_queue_receiver(QUEUE, session_id="s-1") as receiver:
            receiver.receive_messages(max_message_count=1, max_wait_time=1)

    def names_sessions(e):
        assert "Sessions are not supported" in str(e), str(e)

    expect_refused(ServiceBusError, "a session receiver", receive, names_sessions)


def send_one(conn, queue, body):
    def send():
        with client(conn) as c, c.get_queue_sender(queue) as sender:
            sender.send_messages(ServiceBusMessage(body))

    return send


def wrong_key():
    bad = CONN.replace("SharedAccessKey=SAS_KEY_VALUE", "SharedAccessKey=not-the-key")
    assert bad != CONN
    expect_refused(
        ServiceBusAuthenticationError, "a sender with the wrong key", send_one(bad, QUEUE, "nope")
    )


def claims():
    """Each link needs its claim from the rule that signed the token: a send-only rule sends and
    schedules (the $management link with Send) but cannot receive; a listen-only rule receives,
    peeks and completes but cannot send."""
    send_only, listen_only = os.environ["SB_SEND_ONLY"], os.environ["SB_LISTEN_ONLY"]

    def names(claim):
        def check(e):
            assert f"'{claim}' claim(s) are required" in str(e), str(e)

        return check

    def receive(conn):
        def go():
            with client(conn) as c, c.get_queue_receiver(QUEUE) as receiver:
                receiver.receive_messages(max_message_count=1, max_wait_time=1)

        return go

    send_one(send_only, QUEUE, "by the sender")()
    with client(send_only) as c, c.get_queue_sender(QUEUE) as sender:
        at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
        (seq,) = sender.schedule_messages(ServiceBusMessage("later"), at)
        sender.cancel_scheduled_messages(seq)
    expect_refused(
        ServiceBusAuthorizationError, "a receiver on a send-only rule", receive(send_only),
        names("Listen"),
    )
    expect_refused(
        ServiceBusAuthorizationError, "a sender on a listen-only rule",
        send_one(listen_only, QUEUE, "nope"), names("Send"),
    )
    with client(listen_only) as c, c.get_queue_receiver(QUEUE) as receiver:
        (peeked,) = receiver.peek_messages(max_message_count=1)
        assert str(peeked) == "by the sender", str(peeked)
        m = receive_one(receiver)
        assert str(m) == "by the sender", str(m)
        receiver.complete_message(m)


def unknown_queue():
    expect_refused(
        MessagingEntityNotFoundError,
        "sending to an unknown queue",
        send_one(CONN, "nosuch", "nope"),
    )


def oversize():
    expect_refused(
        MessageSizeExceededError, "a 300 KB message", send_one(CONN, QUEUE, b"x" * (300 * 1024))
    )


def peek_renew_defer():
    with client() as c:
        with c.get_queue_sender(QUEUE) as sender:
            sender.send_messages([ServiceBusMessage("one"), ServiceBusMessage("two")])
        with c.get_queue_receiver(QUEUE) as receiver:
            peeked = receiver.peek_messages(max_message_count=5)
            assert [str(p) for p in peeked] == ["one", "two"], [str(p) for p in peeked]
            m = receive_one(receiver)
            before = m.locked_until_utc
            time.sleep(1.1)
            receiver.renew_message_lock(m)
            assert m.locked_until_utc > before
            receiver.defer_message(m)
            deferred = receiver.receive_deferred_messages([m.sequence_number])
            assert [str(d) for d in deferred] == ["one"]
            receiver.complete_message(deferred[0])
            rest = receive_one(receiver)
            assert str(rest) == "two"
            receiver.complete_message(rest)


def schedule_cancel():
    with client() as c:
        with c.get_queue_sender(QUEUE) as sender:
            at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=5)
            keep = sender.schedule_messages(ServiceBusMessage("later"), at)
            drop = sender.schedule_messages(ServiceBusMessage("never"), at)
            sender.cancel_scheduled_messages(drop)
        with c.get_queue_receiver(QUEUE) as receiver:
            assert receiver.receive_messages(max_message_count=1, max_wait_time=1) == []
            m = receive_one(receiver, wait=15)
            assert str(m) == "later" and m.sequence_number == keep[0]
            receiver.complete_message(m)
            assert receiver.receive_messages(max_message_count=1, max_wait_time=3) == []


def receive_and_delete():
    with client() as c:
        with c.get_queue_sender(QUEUE) as sender:
            sender.send_messages(ServiceBusMessage("gone"))
        with c.get_queue_receiver(QUEUE, receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE) as receiver:
            m = receive_one(receiver)
            assert str(m) == "gone"
        with c.get_queue_receiver(QUEUE) as receiver:
            assert receiver.receive_messages(max_message_count=1, max_wait_time=1) == []


def ttl_expiry():
    """A message past its time-to-live is never delivered: dead-lettered with TTLExpiredException
    on a queue with DeadLetteringOnMessageExpiration, dropped on one without."""
    expiring = os.environ["SB_EXPIRING_QUEUE"]
    ttl = datetime.timedelta(seconds=1)
    with client() as c:
        for queue in (QUEUE, expiring):
            with c.get_queue_sender(queue) as sender:
                sender.send_messages(ServiceBusMessage("short-lived", message_id=f"ttl-{queue}", time_to_live=ttl))
        time.sleep(2.5)
        for queue, dead_lettered in ((QUEUE, False), (expiring, True)):
            with c.get_queue_receiver(queue) as receiver:
                assert receiver.receive_messages(max_message_count=1, max_wait_time=1) == [], queue
            with c.get_queue_receiver(queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER) as dlq:
                got = dlq.receive_messages(max_message_count=1, max_wait_time=2)
                if not dead_lettered:
                    assert got == [], f"{queue}: an expired message is dropped"
                    continue
                assert len(got) == 1, f"{queue}: the expired message is dead-lettered"
                d = got[0]
                assert d.message_id == f"ttl-{queue}"
                assert d.dead_letter_reason == "TTLExpiredException", d.dead_letter_reason
                dlq.complete_message(d)


def duplicate_detection():
    """A MessageId seen within the window is accepted and dropped: single, batch, list and
    scheduled sends; a duplicate schedule still gets its own sequence number. After the window
    the id is new again."""
    queue = os.environ["SB_DEDUP_QUEUE"]
    window = float(os.environ["SB_DEDUP_WINDOW"])
    with client() as c:
        with c.get_queue_sender(queue) as sender:
            sender.send_messages(ServiceBusMessage("first", message_id="dup-1"))
            # Accepted (and remembered) before the send returned: the window ends before
            # started + window.
            started = time.time()
            b = sender.create_message_batch()
            b.add_message(ServiceBusMessage("dup in batch", message_id="dup-1"))
            b.add_message(ServiceBusMessage("other", message_id="dup-2"))
            sender.send_messages(b)
            sender.send_messages([ServiceBusMessage("dup in list", message_id="dup-2")])
            at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=1)
            kept = sender.schedule_messages(ServiceBusMessage("scheduled", message_id="dup-3"), at)
            dropped = sender.schedule_messages(ServiceBusMessage("scheduled twice", message_id="dup-3"), at)
            assert kept != dropped, (kept, dropped)
        with c.get_queue_receiver(queue) as receiver:
            bodies = complete_all(receiver, 3, wait=1)
            assert bodies == ["first", "other", "scheduled"], bodies
            # Completed, still remembered within the window (checked only while well inside it:
            # a loaded machine may have used the window up already).
            with c.get_queue_sender(queue) as sender:
                if time.time() < started + window - 1.5:
                    sender.send_messages(ServiceBusMessage("still a duplicate", message_id="dup-1"))
                    assert receiver.receive_messages(max_message_count=1, max_wait_time=1) == []
                time.sleep(max(0.0, started + window + 0.2 - time.time()))
                sender.send_messages(ServiceBusMessage("after the window", message_id="dup-1"))
            m = receive_one(receiver)
            assert str(m) == "after the window", str(m)
            receiver.complete_message(m)


if __name__ == "__main__":
    globals()[sys.argv[1]]()
    print("scenario held:", sys.argv[1])
