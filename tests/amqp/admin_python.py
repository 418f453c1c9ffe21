"""Scenarios Microsoft's Python SDK's ServiceBusAdministrationClient (azure-servicebus 7.15.0,
unmodified) runs against the devhost's administration API (HTTPS on the AMQP port). Driven by
crates/devhost/tests/servicebus_admin.rs, which starts `devhost servicebus` and sets:

  SB_CONNECTION_STRING  the connection string the devhost prints
  SB_QUEUE              a queue the devhost declares (--queue)
  REQUESTS_CA_BUNDLE    the devhost's certificate authority (<data-dir>/admin-tls/admin-cert.pem)

Usage: python admin_python.py SCENARIO. Prints "scenario held: SCENARIO" when it held.
"""

import datetime
import sys

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.servicebus import ServiceBusMessage
from azure.servicebus.management import ServiceBusAdministrationClient

from sdk_common import CONN, QUEUE, client, expect_refused

WRONG_KEY = CONN.replace("SharedAccessKey=SAS_KEY_VALUE", "SharedAccessKey=not-the-key")
# A rule the devhost is started with (--sas-rule worker:Send,Listen:worker-key): no Manage.
NO_MANAGE = CONN.replace(
    "SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE",
    "SharedAccessKeyName=worker;SharedAccessKey=worker-key",
)


def admin(conn=CONN):
    # No retries: a refused call must fail at once.
    return ServiceBusAdministrationClient.from_connection_string(conn, retry_total=0)


def lifecycle():
    a = admin()
    q = a.create_queue(
        "orders",
        max_delivery_count=4,
        lock_duration=datetime.timedelta(seconds=45),
        default_message_time_to_live=datetime.timedelta(days=2),
        dead_lettering_on_message_expiration=True,
        requires_duplicate_detection=True,
        duplicate_detection_history_time_window=datetime.timedelta(minutes=2),
        max_size_in_megabytes=2048,
        max_message_size_in_kilobytes=1024,
    )
    got = a.get_queue("orders")
    for p in (q, got):
        assert p.name == "orders", p.name
        assert p.max_delivery_count == 4, p.max_delivery_count
        assert p.lock_duration == datetime.timedelta(seconds=45), p.lock_duration
        assert p.default_message_time_to_live == datetime.timedelta(days=2)
        assert p.dead_lettering_on_message_expiration is True
        assert p.requires_duplicate_detection is True
        assert p.duplicate_detection_history_time_window == datetime.timedelta(minutes=2)
        assert p.max_size_in_megabytes == 2048
        assert p.max_message_size_in_kilobytes == 1024
        assert p.requires_session is False and p.enable_partitioning is False
        assert p.status == "Active", p.status

    # Usable over AMQP at once, with its own message size limit (300 KB > Standard's 256 KB).
    with client() as c:
        with c.get_queue_sender("orders") as sender:
            sender.send_messages([ServiceBusMessage(f"m{i}", message_id=f"id-{i}") for i in range(2)])
            sender.send_messages(ServiceBusMessage(b"x" * (300 * 1024), message_id="big"))
            sender.send_messages(ServiceBusMessage("dup", message_id="id-0"))  # dropped: a duplicate
    rt = a.get_queue_runtime_properties("orders")
    assert rt.name == "orders"
    assert rt.active_message_count == 3, rt.active_message_count
    assert rt.total_message_count == 3, rt.total_message_count
    assert rt.dead_letter_message_count == 0 and rt.scheduled_message_count == 0
    assert rt.transfer_message_count == 0 and rt.transfer_dead_letter_message_count == 0
    assert rt.size_in_bytes > 300 * 1024, rt.size_in_bytes
    assert rt.created_at_utc <= rt.updated_at_utc <= rt.accessed_at_utc, rt

    got.max_delivery_count = 9
    got.lock_duration = datetime.timedelta(minutes=2)
    updated = a.update_queue(got)
    after = a.get_queue("orders")
    assert after.max_delivery_count == 9 and after.lock_duration == datetime.timedelta(minutes=2), after
    assert after.requires_duplicate_detection is True  # kept
    assert a.get_queue_runtime_properties("orders").active_message_count == 3
    del updated

    # Each queue once, in pages of two: the client follows the feed's next link.
    for name in ("page-a", "page-b", "page-c"):
        a.create_queue(name)
    names = [p.name for p in a.list_queues(max_page_size=2)]
    assert names == sorted(names) and {"orders", "page-a", "page-b", "page-c", QUEUE} <= set(names), names
    assert len(names) == len(set(names)), names
    pages = list(a.list_queues(max_page_size=2).by_page())
    assert len(pages) >= 3, len(pages)
    counts = {r.name: r.active_message_count for r in a.list_queues_runtime_properties(max_page_size=2)}
    assert counts["orders"] == 3 and counts["page-a"] == 0, counts

    ns = a.get_namespace_properties()
    assert ns.name and ns.messaging_sku == "Standard", ns

    a.delete_queue("orders")
    expect_refused(ResourceNotFoundError, "get of a deleted queue", lambda: a.get_queue("orders"))
    expect_refused(ResourceNotFoundError, "delete of a deleted queue", lambda: a.delete_queue("orders"))
    # Its messages went with it: a queue created again under the name is empty.
    a.create_queue("orders")
    assert a.get_queue_runtime_properties("orders").active_message_count == 0
    for name in ("orders", "page-a", "page-b", "page-c"):
        a.delete_queue(name)


def conflict():
    a = admin()
    a.create_queue("twice")
    expect_refused(ResourceExistsError, "a second create", lambda: a.create_queue("twice"))
    expect_refused(ResourceExistsError, "a create of a declared queue", lambda: a.create_queue(QUEUE))
    # A queue the devhost declares is served as configured: no delete, no update.
    expect_refused(
        HttpResponseError, "delete of a declared queue", lambda: a.delete_queue(QUEUE), lambda e: e.status_code == 409
    )
    declared = a.get_queue(QUEUE)
    declared.max_delivery_count = 3
    expect_refused(
        HttpResponseError, "update of a declared queue", lambda: a.update_queue(declared), lambda e: e.status_code == 409
    )
    a.delete_queue("twice")


def names_manage(e):
    # The XML body escapes the quotes (&apos;Manage&apos;).
    assert "Manage" in str(e) and "claim(s) are required" in str(e), str(e)


def wrong_key():
    expect_refused(ClientAuthenticationError, "a wrong key", lambda: admin(WRONG_KEY).get_queue(QUEUE))
    expect_refused(ClientAuthenticationError, "a wrong key", lambda: admin(WRONG_KEY).create_queue("nope"))
    expect_refused(ResourceNotFoundError, "a create with a wrong key", lambda: admin().get_queue("nope"))
    assert NO_MANAGE != CONN
    expect_refused(
        ClientAuthenticationError, "a rule without Manage", lambda: admin(NO_MANAGE).get_queue(QUEUE),
        names_manage,
    )


def unsupported():
    a = admin()
    for prop, kwargs in [
        ("RequiresSession", {"requires_session": True}),
        ("EnablePartitioning", {"enable_partitioning": True}),
        ("AutoDeleteOnIdle", {"auto_delete_on_idle": datetime.timedelta(minutes=10)}),
        ("ForwardTo", {"forward_to": QUEUE}),
        ("MaxDeliveryCount", {"max_delivery_count": 0}),
        ("MaxMessageSizeInKilobytes", {"max_message_size_in_kilobytes": 512}),
    ]:
        expect_refused(
            HttpResponseError,
            prop,
            lambda: a.create_queue("refused", **kwargs),
            lambda e: e.status_code == 400 and prop in str(e.message),
        )
    expect_refused(ResourceNotFoundError, "a refused queue", lambda: a.get_queue("refused"))


def durable_create():
    a = admin()
    a.create_queue("kept", max_delivery_count=6, max_message_size_in_kilobytes=2048)
    a.create_queue("sized", max_message_size_in_kilobytes=1024)  # for the REST size check
    with client() as c:
        with c.get_queue_sender("kept") as sender:
            sender.send_messages(ServiceBusMessage("survives"))


def durable_check():
    """After a restart of the devhost: the queue, its properties and its message are still there."""
    a = admin()
    q = a.get_queue("kept")
    assert q.max_delivery_count == 6 and q.max_message_size_in_kilobytes == 2048, q
    assert a.get_queue_runtime_properties("kept").active_message_count == 1
    with client() as c:
        with c.get_queue_receiver("kept", max_wait_time=5) as r:
            got = r.receive_messages(max_message_count=1, max_wait_time=5)
            assert [str(m) for m in got] == ["survives"], got
            r.complete_message(got[0])


if __name__ == "__main__":
    globals()[sys.argv[1]]()
    print("scenario held:", sys.argv[1])
