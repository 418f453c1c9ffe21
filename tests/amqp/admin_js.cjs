// Scenarios Microsoft's JavaScript SDK's ServiceBusAdministrationClient (@azure/service-bus
// 7.9.5, unmodified) runs against the devhost's administration API (HTTPS on the AMQP port).
// Driven by crates/devhost/tests/servicebus_admin.rs, which starts `devhost servicebus` and sets
// SB_CONNECTION_STRING, SB_QUEUE (a queue the devhost declares), NODE_PATH (the installed SDK)
// and NODE_EXTRA_CA_CERTS (the devhost's certificate authority, <data-dir>/admin-tls/admin-cert.pem).
// Usage: node admin_js.cjs SCENARIO. Exit status 0 = the scenario held.
"use strict";

const assert = require("node:assert/strict");
const { ServiceBusAdministrationClient, ServiceBusClient } = require("@azure/service-bus");

const CONN = process.env.SB_CONNECTION_STRING;
const QUEUE = process.env.SB_QUEUE;
const WRONG_KEY = CONN.replace("SharedAccessKey=SAS_KEY_VALUE", "SharedAccessKey=not-the-key");

function admin(conn = CONN) {
  return new ServiceBusAdministrationClient(conn, { retryOptions: { maxRetries: 0 } });
}

async function refused(what, promise, check) {
  await assert.rejects(promise, (e) => {
    console.log(`${what}: refused as expected:`, e.code, e.statusCode, String(e.message).slice(0, 200));
    return check(e);
  });
}

async function all(iterable) {
  const out = [];
  for await (const x of iterable) out.push(x);
  return out;
}

const scenarios = {
  async lifecycle() {
    const a = admin();
    const created = await a.createQueue("js-orders", {
      maxDeliveryCount: 4,
      lockDuration: "PT45S",
      defaultMessageTimeToLive: "P2D",
      deadLetteringOnMessageExpiration: true,
      requiresDuplicateDetection: true,
      duplicateDetectionHistoryTimeWindow: "PT2M",
      maxSizeInMegabytes: 2048,
      maxMessageSizeInKilobytes: 1024,
    });
    const got = await a.getQueue("js-orders");
    for (const q of [created, got]) {
      assert.equal(q.name, "js-orders");
      assert.equal(q.maxDeliveryCount, 4);
      assert.equal(q.lockDuration, "PT45S");
      assert.equal(q.defaultMessageTimeToLive, "P2D");
      assert.equal(q.deadLetteringOnMessageExpiration, true);
      assert.equal(q.requiresDuplicateDetection, true);
      assert.equal(q.duplicateDetectionHistoryTimeWindow, "PT2M");
      assert.equal(q.maxSizeInMegabytes, 2048);
      assert.equal(q.maxMessageSizeInKilobytes, 1024);
      assert.equal(q.requiresSession, false);
      assert.equal(q.enablePartitioning, false);
      assert.equal(q.status, "Active");
    }
    assert.equal(await a.queueExists("js-orders"), true);
    assert.equal(await a.queueExists("js-nosuch"), false);

    const c = new ServiceBusClient(CONN, { retryOptions: { maxRetries: 0, timeoutInMs: 10000 } });
    try {
      const sender = c.createSender("js-orders");
      await sender.sendMessages([{ body: "m0" }, { body: "m1" }, { body: "m2" }]);
      await sender.close();
    } finally {
      await c.close();
    }
    const rt = await a.getQueueRuntimeProperties("js-orders");
    assert.equal(rt.name, "js-orders");
    assert.equal(rt.activeMessageCount, 3);
    assert.equal(rt.totalMessageCount, 3);
    assert.equal(rt.deadLetterMessageCount, 0);
    assert.equal(rt.scheduledMessageCount, 0);
    assert.equal(rt.transferMessageCount, 0);
    assert.ok(rt.sizeInBytes > 0, rt.sizeInBytes);
    assert.ok(rt.createdAt <= rt.modifiedAt && rt.modifiedAt <= rt.accessedAt, JSON.stringify(rt));

    got.maxDeliveryCount = 9;
    const updated = await a.updateQueue(got);
    assert.equal(updated.maxDeliveryCount, 9);
    assert.equal((await a.getQueue("js-orders")).maxDeliveryCount, 9);

    for (const name of ["js-page-a", "js-page-b", "js-page-c"]) await a.createQueue(name);
    const names = (await all(a.listQueues())).map((q) => q.name);
    for (const n of ["js-orders", "js-page-a", "js-page-b", "js-page-c", QUEUE]) assert.ok(names.includes(n), n);
    assert.equal(new Set(names).size, names.length);
    const pages = await all(a.listQueues().byPage({ maxPageSize: 2 }));
    assert.ok(pages.length >= 3, `${pages.length} pages`);
    assert.ok(pages.every((p) => p.length <= 2));
    assert.deepEqual(pages.flat().map((q) => q.name), names);
    const runtime = await all(a.listQueuesRuntimeProperties().byPage({ maxPageSize: 2 }));
    const counts = Object.fromEntries(runtime.flat().map((r) => [r.name, r.activeMessageCount]));
    assert.equal(counts["js-orders"], 3);
    assert.equal(counts["js-page-a"], 0);

    const ns = await a.getNamespaceProperties();
    assert.equal(ns.messagingSku, "Standard");
    assert.ok(ns.name);

    await a.deleteQueue("js-orders");
    await refused("get of a deleted queue", a.getQueue("js-orders"), (e) => e.code === "MessageEntityNotFoundError");
    await refused("delete of a deleted queue", a.deleteQueue("js-orders"), (e) => e.statusCode === 404);
    for (const name of ["js-page-a", "js-page-b", "js-page-c"]) await a.deleteQueue(name);
  },

  async conflict() {
    const a = admin();
    await a.createQueue("js-twice");
    await refused("a second create", a.createQueue("js-twice"), (e) => e.code === "MessageEntityAlreadyExistsError");
    await refused("delete of a declared queue", a.deleteQueue(QUEUE), (e) => e.statusCode === 409);
    const declared = await a.getQueue(QUEUE);
    declared.maxDeliveryCount = 3;
    await refused("update of a declared queue", a.updateQueue(declared), (e) => e.statusCode === 409);
    await a.deleteQueue("js-twice");
  },

  async wrong_key() {
    await refused("a wrong key", admin(WRONG_KEY).getQueue(QUEUE), (e) => e.code === "UnauthorizedRequestError");
    await refused("a wrong key", admin(WRONG_KEY).createQueue("js-nope"), (e) => e.statusCode === 401);
    assert.equal(await admin().queueExists("js-nope"), false);
  },

  async unsupported() {
    const a = admin();
    for (const [prop, options] of [
      ["RequiresSession", { requiresSession: true }],
      ["EnablePartitioning", { enablePartitioning: true }],
      ["AutoDeleteOnIdle", { autoDeleteOnIdle: "PT10M" }],
      ["LockDuration", { lockDuration: "PT10M" }],
      ["MaxMessageSizeInKilobytes", { maxMessageSizeInKilobytes: 512 }],
    ]) {
      await refused(prop, a.createQueue("js-refused", options), (e) => e.statusCode === 400 && e.message.includes(prop));
    }
    assert.equal(await a.queueExists("js-refused"), false);
  },
};

require("./js_common.cjs").runScenario(scenarios);
