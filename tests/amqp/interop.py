"""One message through Microsoft's Python Service Bus SDK (azure-servicebus), for the tests that
cross front ends (AMQP <-> REST, AMQP -> the devhost's ProcessJob). Driven by
crates/broker/tests/amqp_rest_interop.rs and crates/e2e/tests/amqp.rs.

  SB_CONNECTION_STRING  the emulator-style connection string (UseDevelopmentEmulator=true)
  SB_QUEUE              the queue

(read by sdk_common.py).

Usage:
  python interop.py send BODY MESSAGE_ID CONTENT_TYPE CORRELATION_ID PROPERTIES_JSON
  python interop.py receive     (one message, printed as JSON, then completed)
"""

import json
import sys

from azure.servicebus import ServiceBusMessage

from sdk_common import QUEUE, client, message_json, receive_one



def main():
    with client() as c:
        if sys.argv[1] == "send":
            body, message_id, content_type, correlation_id, props = sys.argv[2:7]
            with c.get_queue_sender(QUEUE) as sender:
                sender.send_messages(
                    ServiceBusMessage(
                        body,
                        message_id=message_id,
                        content_type=content_type,
                        correlation_id=correlation_id,
                        application_properties=json.loads(props),
                    )
                )
            print("sent")
        else:
            with c.get_queue_receiver(QUEUE, max_wait_time=10) as receiver:
                m = receive_one(receiver, wait=10)
                print(message_json(m))
                receiver.complete_message(m)


main()
