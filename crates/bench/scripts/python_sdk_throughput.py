"""Throughput of Microsoft's Python Service Bus SDK (azure-servicebus, unmodified) against the
devhost's AMQP front end, for `cargo xtask bench`.

Sends COUNT messages one call each (every call waits for the broker's durable accept), then COUNT
in batches, then receives and completes all of them in peek-lock mode, and prints one JSON object:
{"count": N, "send_per_s": .., "batch_send_per_s": .., "receive_complete_per_s": ..}.

Environment: SB_CONNECTION_STRING (the emulator-form string `devhost start` prints), SB_QUEUE,
COUNT, BODY (the message body, a JSON text).
"""

import json
import os
import sys
import time

from azure.servicebus import ServiceBusClient, ServiceBusMessage


def main() -> int:
    conn = os.environ["SB_CONNECTION_STRING"]
    queue = os.environ["SB_QUEUE"]
    count = int(os.environ["COUNT"])
    body = os.environ["BODY"]
    with ServiceBusClient.from_connection_string(conn) as client:
        with client.get_queue_sender(queue) as sender:
            started = time.perf_counter()
            for i in range(count):
                sender.send_messages(
                    ServiceBusMessage(body, content_type="application/json", message_id=f"py-{i}")
                )
            single = time.perf_counter() - started

            started = time.perf_counter()
            sent = 0
            while sent < count:
                batch = sender.create_message_batch()
                while sent < count:
                    try:
                        batch.add_message(
                            ServiceBusMessage(body, content_type="application/json", message_id=f"pyb-{sent}")
                        )
                    except ValueError:  # MessageSizeExceededError: the batch is full
                        break
                    sent += 1
                sender.send_messages(batch)
            batched = time.perf_counter() - started

        received = 0
        with client.get_queue_receiver(queue, prefetch_count=100) as receiver:
            started = time.perf_counter()
            while received < 2 * count:
                messages = receiver.receive_messages(max_message_count=100, max_wait_time=5)
                if not messages:
                    print(f"only {received} of {2 * count} messages arrived", file=sys.stderr)
                    return 1
                for m in messages:
                    receiver.complete_message(m)
                received += len(messages)
            receiving = time.perf_counter() - started

    print(
        json.dumps(
            {
                "count": count,
                "send_per_s": count / single,
                "batch_send_per_s": count / batched,
                "receive_complete_per_s": received / receiving,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
