// Scenarios run by Microsoft's JavaScript Service Bus SDK (@azure/service-bus, rhea underneath)
// against the project's AMQP front end. Driven by crates/broker/tests/amqp_js_sdk.rs with
// SB_CONNECTION_STRING and SB_QUEUE set (SB_DEDUP_QUEUE: a queue with duplicate detection, its
// window SB_DEDUP_WINDOW seconds; SB_SEND_ONLY / SB_LISTEN_ONLY: connection strings of rules
// with only Send / Listen rights) and NODE_PATH pointing at the installed SDK.
// Usage: node js_sdk.cjs SCENARIO. Exit status 0 = the scenario held.
"use strict";

const assert = require("node:assert/strict");
const { ServiceBusClient } = require("@azure/service-bus");

const CONN = process.env.SB_CONNECTION_STRING;
const QUEUE = process.env.SB_QUEUE;

function client(conn = CONN) {
  return new ServiceBusClient(conn, { retryOptions: { maxRetries: 0, timeoutInMs: 10000 } });
}

// Run `body` with a client of `conn`, closed afterwards whatever happens.
async function withClient(body, conn = CONN) {
  const c = client(conn);
  try {
    return await body(c);
  } finally {
    await c.close();
  }
}

// Send `messages` to `queue` through a sender of their own.
async function send(c, messages, queue = QUEUE) {
  const sender = c.createSender(queue);
  await sender.sendMessages(messages);
  await sender.close();
}

async function receiveOne(receiver, wait = 5000) {
  const got = await receiver.receiveMessages(1, { maxWaitTimeInMs: wait });
  assert.equal(got.length, 1, `expected one message, got ${got.length}`);
  return got[0];
}

async function assertNoneLeft(receiver, wait = 1000) {
  const got = await receiver.receiveMessages(1, { maxWaitTimeInMs: wait });
  assert.equal(got.length, 0, `expected no message, got ${got.length}`);
}

// The one dead letter of QUEUE, received and completed.
async function takeDeadLetter(c) {
  const dlq = c.createReceiver(QUEUE, { subQueueType: "deadLetter" });
  const d = await receiveOne(dlq);
  await dlq.completeMessage(d);
  await dlq.close();
  return d;
}

// An assert.rejects check: logs the refusal and holds when `expected(e)` does.
function refusal(expected) {
  return (e) => {
    console.log("refused as expected:", e.code, e.message);
    return expected(e);
  };
}

const scenarios = {
  async send_receive_complete() {
    await withClient(async (c) => {
      await send(c, {
        body: { hello: "js" },
        messageId: "js-1",
        correlationId: "c-1",
        subject: "greeting",
        contentType: "application/json",
        applicationProperties: { kind: "test", n: 5 },
      });
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
      await assertNoneLeft(receiver);
      await receiver.close();
    });
  },

  async batch_abandon_dead_letter() {
    await withClient(async (c) => {
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
      const d = await takeDeadLetter(c);
      assert.equal(d.body, "poison");
      assert.equal(d.deadLetterReason, "bad");
      assert.equal(d.deadLetterErrorDescription, "why");
    });
  },

  async max_delivery_count() {
    // The queue's MaxDeliveryCount is 10: the 10th abandon dead-letters the message.
    await withClient(async (c) => {
      await send(c, { body: "hopeless" });
      const receiver = c.createReceiver(QUEUE);
      for (let attempt = 0; attempt < 10; attempt++) {
        const m = await receiveOne(receiver);
        assert.equal(m.deliveryCount, attempt);
        await receiver.abandonMessage(m);
      }
      await assertNoneLeft(receiver);
      await receiver.close();
      const d = await takeDeadLetter(c);
      assert.equal(d.body, "hopeless");
      assert.equal(d.deadLetterReason, "MaxDeliveryCountExceeded");
      assert.equal(d.deadLetterSource, QUEUE);
    });
  },

  async peek_renew_defer() {
    await withClient(async (c) => {
      await send(c, [{ body: "one" }, { body: "two" }]);
      const receiver = c.createReceiver(QUEUE);
      const peeked = await receiver.peekMessages(5);
      assert.deepEqual(peeked.map((p) => p.body), ["one", "two"]);
      assert.equal(peeked[0].lockToken, undefined, "a peeked message holds no lock");
      const m = await receiveOne(receiver);
      const before = m.lockedUntilUtc;
      await new Promise((r) => setTimeout(r, 1100));
      const renewed = await receiver.renewMessageLock(m);
      assert.ok(renewed > before, `${renewed} > ${before}`);
      await receiver.deferMessage(m);
      const deferred = await receiver.receiveDeferredMessages([m.sequenceNumber]);
      assert.deepEqual(deferred.map((d) => d.body), ["one"]);
      await receiver.completeMessage(deferred[0]);
      const rest = await receiveOne(receiver);
      assert.equal(rest.body, "two");
      await receiver.completeMessage(rest);
      await receiver.close();
    });
  },

  async schedule_cancel() {
    await withClient(async (c) => {
      const sender = c.createSender(QUEUE);
      const at = new Date(Date.now() + 5000);
      const [keep] = await sender.scheduleMessages({ body: "later" }, at);
      const [drop] = await sender.scheduleMessages({ body: "never" }, at);
      await sender.cancelScheduledMessages([drop]);
      await sender.close();
      const receiver = c.createReceiver(QUEUE);
      await assertNoneLeft(receiver);
      const m = await receiveOne(receiver, 15000);
      assert.equal(m.body, "later");
      assert.equal(m.sequenceNumber.toString(), keep.toString());
      assert.ok(m.scheduledEnqueueTimeUtc instanceof Date);
      await receiver.completeMessage(m);
      await assertNoneLeft(receiver, 3000);
      await receiver.close();
    });
  },

  async receive_and_delete() {
    await withClient(async (c) => {
      await send(c, { body: "gone" });
      const once = c.createReceiver(QUEUE, { receiveMode: "receiveAndDelete" });
      const m = await receiveOne(once);
      assert.equal(m.body, "gone");
      assert.equal(m.lockToken, undefined);
      await once.close();
      const receiver = c.createReceiver(QUEUE);
      await assertNoneLeft(receiver);
      await receiver.close();
    });
  },

  async subscribe_auto_completes() {
    // The streaming receiver most JavaScript consumers use: each message is completed when the
    // handler returns, and abandoned (redelivered) when it throws.
    await withClient(async (c) => {
      await send(c, [{ body: "ok-1" }, { body: "flaky" }, { body: "ok-2" }]);
      const receiver = c.createReceiver(QUEUE);
      const seen = [];
      let failedOnce = false;
      await new Promise((resolve, reject) => {
        const sub = receiver.subscribe(
          {
            async processMessage(m) {
              if (m.body === "flaky" && !failedOnce) {
                failedOnce = true;
                throw new Error("transient");
              }
              seen.push(`${m.body}@${m.deliveryCount}`);
              if (seen.length === 3) setImmediate(() => sub.close().then(resolve, reject));
            },
            async processError(args) {
              if (args.error.message !== "transient") reject(args.error);
            },
          },
          { maxConcurrentCalls: 1 },
        );
        setTimeout(() => reject(new Error(`timed out; seen ${seen}`)), 20000);
      });
      assert.deepEqual(seen.sort(), ["flaky@1", "ok-1@0", "ok-2@0"]);
      // Every one was completed: nothing is left to receive.
      await assertNoneLeft(receiver, 1500);
      await receiver.close();
    });
  },

  async oversize() {
    await withClient(async (c) => {
      await assert.rejects(
        send(c, { body: Buffer.alloc(300 * 1024, 120) }),
        refusal((e) => e.code === "MessageSizeExceeded" || /size/i.test(e.message)),
      );
    });
  },

  async session_receiver_refused() {
    // The broker refuses the attach (null source, then detach naming sessions as unsupported);
    // this SDK reads the null source first and reports it as a session it could not lock
    // (MessageSession.createReceiver: "It may be locked by another receiver"), dropping the text.
    await withClient(async (c) => {
      await assert.rejects(
        c.acceptSession(QUEUE, "s-1"),
        refusal((e) => e.code === "SessionCannotBeLocked" || /Sessions are not supported/.test(e.message)),
      );
    });
  },

  async wrong_key() {
    const wrong = CONN.replace("SharedAccessKey=SAS_KEY_VALUE", "SharedAccessKey=nope");
    await withClient(async (c) => {
      await assert.rejects(send(c, { body: "x" }), refusal((e) => e.code === "UnauthorizedAccess"));
    }, wrong);
  },

  // Each link needs its role's claim from the rule that signed the token: a send-only rule
  // (SB_SEND_ONLY) sends and schedules but cannot receive; a listen-only one (SB_LISTEN_ONLY)
  // peeks, receives and completes but cannot send.
  async claims() {
    const refusedFor = (claim) =>
      refusal(
        (e) => e.code === "UnauthorizedAccess" && e.message.includes(`'${claim}' claim(s) are required`),
      );
    const sendOnly = client(process.env.SB_SEND_ONLY);
    const listenOnly = client(process.env.SB_LISTEN_ONLY);
    try {
      const sender = sendOnly.createSender(QUEUE);
      await sender.sendMessages({ body: "by the sender" });
      const [seq] = await sender.scheduleMessages({ body: "later" }, new Date(Date.now() + 3600e3));
      await sender.cancelScheduledMessages(seq);
      const deaf = sendOnly.createReceiver(QUEUE);
      await assert.rejects(deaf.receiveMessages(1, { maxWaitTimeInMs: 1000 }), refusedFor("Listen"));
      const mute = listenOnly.createSender(QUEUE);
      await assert.rejects(mute.sendMessages({ body: "nope" }), refusedFor("Send"));
      const receiver = listenOnly.createReceiver(QUEUE);
      const [peeked] = await receiver.peekMessages(1);
      assert.equal(peeked.body, "by the sender");
      const m = await receiveOne(receiver);
      assert.equal(m.body, "by the sender");
      await receiver.completeMessage(m);
    } finally {
      await sendOnly.close();
      await listenOnly.close();
    }
  },

  // A MessageId seen within the window is accepted and dropped (single, batch, scheduled); after
  // the window it is new again.
  async duplicate_detection() {
    const queue = process.env.SB_DEDUP_QUEUE;
    const windowMs = Number(process.env.SB_DEDUP_WINDOW) * 1000;
    await withClient(async (c) => {
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
    });
  },

  async unknown_queue() {
    await withClient(async (c) => {
      const notFound = refusal((e) => e.code === "MessagingEntityNotFound");
      await assert.rejects(send(c, { body: "x" }, "nosuch"), notFound);
    });
  },
};

require("./js_common.cjs").runScenario(scenarios);
