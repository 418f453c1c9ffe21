"""Microsoft's Python Service Bus SDK (azure-servicebus, unmodified) on either side of a `kill -9`
of the devhost. Driven by crates/devhost/tests/amqp_durability.rs.

  SB_CONNECTION_STRING  the emulator-style connection string (UseDevelopmentEmulator=true)
  SB_QUEUE              the queue

Usage:
  python durability.py send COUNT      COUNT messages in one batch, ids dur-0..; prints "sent"
  python durability.py lock            peek-lock one message and print its id, then wait to be killed
  python durability.py drain COUNT     receive and complete COUNT messages; print them as JSON lines
"""

import json
import sys
import time

from azure.servicebus import ServiceBusMessage

from sdk_common import QUEUE, client, message_json


def main():
    with client() as c:
        if sys.argv[1] == "send":
            count = int(sys.argv[2])
            with c.get_queue_sender(QUEUE) as sender:
                batch = sender.create_message_batch()
                for i in range(count):
                    batch.add_message(
                        ServiceBusMessage(
                            json.dumps({"n": i}),
                            message_id=f"dur-{i}",
                            content_type="application/json",
                            correlation_id="kill-9",
                            application_properties={"n": i, "tag": "durable"},
                        )
                    )
                sender.send_messages(batch)
            print("sent", flush=True)
        elif sys.argv[1] == "lock":
            with c.get_queue_receiver(QUEUE, max_wait_time=10, prefetch_count=0) as receiver:
                got = receiver.receive_messages(max_message_count=1, max_wait_time=10)
                assert len(got) == 1, f"expected one message, got {len(got)}"
                print(got[0].message_id, flush=True)
                time.sleep(600)
        else:
            count = int(sys.argv[2])
            seen = 0
            with c.get_queue_receiver(QUEUE, max_wait_time=30) as receiver:
                while seen < count:
                    got = receiver.receive_messages(max_message_count=count - seen, max_wait_time=30)
                    assert got, f"only {seen} of {count} messages arrived"
                    for m in got:
                        print(message_json(m), flush=True)
                        receiver.complete_message(m)
                    seen += len(got)


main()
