// Scenarios run by Microsoft's JavaScript Service Bus SDK (@azure/service-bus, rhea underneath)
// against the project's AMQP front end. Driven by crates/broker/tests/amqp_js_sdk.rs with
// SB_CONNECTION_STRING and SB_QUEUE set (SB_DEDUP_QUEUE: a queue with duplicate detection, its
// window SB_DEDUP_WINDOW seconds) and NODE_PATH pointing at the installed SDK.
// Usage: node js_sdk.cjs SCENARIO. Exit status 0 = the scenario held.
"use strict";

const assert = require("node:assert/strict");
const { ServiceBusClient } = require("@azure/service-bus");

const CONN = process.env.SB_CONNECTION_STRING;
const QUEUE = process.env.SB_QUEUE;

function client(conn = CONN) {
  return new ServiceBusClient(conn, { retryOptions: { maxRetries: 0, timeoutInMs: 10000 } });
}

async function receiveOne(receiver, wait = 5000) {
  const got = await receiver.receiveMessages(1, { maxWaitTimeInMs: wait });
  assert.equal(got.length, 1, `expected one message, got ${got.length}`);
  return got[0];
}

const scenarios = {
  async send_receive_complete() {
    const c = client();
    try {
      const sender = c.createSender(QUEUE);
      await sender.sendMessages({
        body: { hello: "js" },
        messageId: "js-1",
        correlationId: "c-1",
        subject: "greeting",
        contentType: "application/json",
        applicationProperties: { kind: "test", n: 5 },
      });
      await sender.close();
      const receiver = c.createReceiver(QUEUE);
      const m = await receiveOne(receiver);
      assert.deepEqual(m.body, { hello: "js" });
      assert.equal(m.messageId, "js-1");
      assert.equal(m.correlationId, "c-1");
      assert.equal(m.subject, "greeting");
      assert.equal(m.contentType, "application/json");
      assert.deepEqual(m.applicationProperties, { kind: "test", n: 5 });
      assert.equal(m.deliveryCount, 0);
      assert.ok(m.sequenceNumber.toNumber() >= 1);
      assert.match(m.lockToken, /^[0-9a-f-]{36}$/);
      assert.ok(m.lockedUntilUtc > new Date());
      await receiver.completeMessage(m);
      assert.equal((await receiver.receiveMessages(1, { maxWaitTimeInMs: 1000 })).length, 0);
      await receiver.close();
    } finally {
      await c.close();
    }
  },

  async batch_abandon_dead_letter() {
    const c = client();
    try {
      const sender = c.createSender(QUEUE);
      const batch = await sender.createMessageBatch();
      for (const body of ["a", "b", "poison"]) assert.ok(batch.tryAddMessage({ body }));
      await sender.sendMessages(batch);
      await sender.close();
      const receiver = c.createReceiver(QUEUE);
      const got = await receiver.receiveMessages(3, { maxWaitTimeInMs: 5000 });
      assert.deepEqual(got.map((m) => m.body), ["a", "b", "poison"]);
      await receiver.completeMessage(got[0]);
      await receiver.abandonMessage(got[1]);
      await receiver.deadLetterMessage(got[2], { deadLetterReason: "bad", deadLetterErrorDescription: "why" });
      const again = await receiveOne(receiver);
      assert.equal(again.body, "b");
      assert.equal(again.deliveryCount, 1);
      await receiver.completeMessage(again);
      await receiver.close();
      const dlq = c.createReceiver(QUEUE, { subQueueType: "deadLetter" });
      const d = await receiveOne(dlq);
      assert.equal(d.body, "poison");
      assert.equal(d.deadLetterReason, "bad");
      assert.equal(d.deadLetterErrorDescription, "why");
      await dlq.completeMessage(d);
      await dlq.close();
    } finally {
      await c.close();
    }
  },

  async wrong_key() {
    const c = client(CONN.replace("SharedAccessKey=SAS_KEY_VALUE", "SharedAccessKey=nope"));
    try {
      const sender = c.createSender(QUEUE);
      await assert.rejects(sender.sendMessages({ body: "x" }), (e) => {
        console.log("refused as expected:", e.code, e.message);
        return e.code === "UnauthorizedAccess";
      });
    } finally {
      await c.close();
    }
  },

  // A MessageId seen within the window is accepted and dropped (single, batch, scheduled); after
  // the window it is new again.
  async duplicate_detection() {
    const queue = process.env.SB_DEDUP_QUEUE;
    const windowMs = Number(process.env.SB_DEDUP_WINDOW) * 1000;
    const c = client();
    try {
      const sender = c.createSender(queue);
      await sender.sendMessages({ body: "first", messageId: "js-dup-1" });
      // Accepted (and remembered) before the send returned: the window ends before started + it.
      const started = Date.now();
      const batch = await sender.createMessageBatch();
      assert.ok(batch.tryAddMessage({ body: "dup in batch", messageId: "js-dup-1" }));
      assert.ok(batch.tryAddMessage({ body: "other", messageId: "js-dup-2" }));
      await sender.sendMessages(batch);
      const at = new Date(Date.now() + 1000);
      const kept = await sender.scheduleMessages({ body: "scheduled", messageId: "js-dup-3" }, at);
      const dropped = await sender.scheduleMessages({ body: "scheduled twice", messageId: "js-dup-3" }, at);
      assert.notEqual(kept[0].toString(), dropped[0].toString());
      const receiver = c.createReceiver(queue);
      const bodies = [];
      const deadline = Date.now() + 10000;
      while (bodies.length < 3 && Date.now() < deadline) {
        for (const m of await receiver.receiveMessages(5, { maxWaitTimeInMs: 1000 })) {
          bodies.push(m.body);
          await receiver.completeMessage(m);
        }
      }
      assert.deepEqual(bodies, ["first", "other", "scheduled"]);
      await new Promise((r) => setTimeout(r, Math.max(0, started + windowMs + 200 - Date.now())));
      await sender.sendMessages({ body: "after the window", messageId: "js-dup-1" });
      const m = await receiveOne(receiver);
      assert.equal(m.body, "after the window");
      await receiver.completeMessage(m);
      await receiver.close();
      await sender.close();
    } finally {
      await c.close();
    }
  },

  async unknown_queue() {
    const c = client();
    try {
      const sender = c.createSender("nosuch");
      await assert.rejects(sender.sendMessages({ body: "x" }), (e) => {
        console.log("refused as expected:", e.code, e.message);
        return e.code === "MessagingEntityNotFound";
      });
    } finally {
      await c.close();
    }
  },
};

(async () => {
  const name = process.argv[2];
  await scenarios[name]();
  console.log(`scenario held: ${name}`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
