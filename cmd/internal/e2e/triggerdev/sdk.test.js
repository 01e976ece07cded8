// trigger.dev's own SDK (@trigger.dev/sdk, pinned in package.json) against
// Once's HTTP API, unchanged: tasks.trigger, tasks.batchTrigger,
// runs.retrieve, runs.poll, idempotencyKeys.create and idempotencyKeys.reset.
//
// Run by cmd/internal/e2e/triggerdev_test.go, which serves the API with a
// worker of Once's tasks and sets:
//
//   TRIGGER_API_URL, TRIGGER_SECRET_KEY  the API and a token of its environment
//   ONCE_FLAKY_URL                       a proxy in front of the API that answers
//                                        500 to the first request of each route
//   ONCE_REPORT                          a file to append one JSON line per check
//                                        that the Go side verifies against Temporal
//
// The tasks are those of the Go test's worker: hello ({name} → "Hello, <name>"),
// fast-child (returns its payload), failing-child (fails for good).

import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync } from "node:fs";
import { randomUUID } from "node:crypto";

import { auth, idempotencyKeys, runs, tasks } from "@trigger.dev/sdk";

const { TRIGGER_API_URL, TRIGGER_SECRET_KEY, ONCE_FLAKY_URL, ONCE_REPORT } = process.env;
assert.ok(TRIGGER_API_URL && TRIGGER_SECRET_KEY && ONCE_FLAKY_URL && ONCE_REPORT, "set by triggerdev_test.go");

// report records what the Go side checks: for each key (64 hex) of task,
// how many runs it must have; and run ids that must be among them.
function report(entry) {
  appendFileSync(ONCE_REPORT, JSON.stringify(entry) + "\n");
}

const uniq = (prefix) => `${prefix}-${randomUUID()}`;
const poll = (id) => runs.poll(id, { pollIntervalMs: 200 });

test("a key triggered twice: one run; runs.poll returns its output", async () => {
  const key = await idempotencyKeys.create(uniq("twice"));
  const first = await tasks.trigger("hello", { name: "Ada" }, { idempotencyKey: key });
  const second = await tasks.trigger("hello", { name: "Ada" }, { idempotencyKey: key });
  assert.match(first.id, /^run_/);
  assert.equal(second.id, first.id);
  assert.equal(first.isCached, false);
  assert.equal(second.isCached, true);
  const run = await poll(first.id);
  assert.equal(run.status, "COMPLETED");
  assert.equal(run.isCompleted, true);
  assert.equal(run.isSuccess, true);
  assert.equal(run.isFailed, false);
  assert.equal(run.output, "Hello, Ada");
  assert.equal(run.taskIdentifier, "hello");
  assert.equal(run.idempotencyKey, key);
  assert.ok(run.createdAt instanceof Date && run.finishedAt instanceof Date);
  assert.ok(run.attemptCount >= 1);
  report({ case: "twice", task: "hello", key, runs: 1, ids: [first.id] });
});

test("keys with several parts and unicode are Once's keys", async () => {
  const parts = ["order", "Ünïcödé ✓ 注文", "42"];
  const key = await idempotencyKeys.create(parts, { scope: "global" });
  assert.match(key, /^[0-9a-f]{64}$/);
  const h = await tasks.trigger("hello", { name: "Zoë" }, { idempotencyKey: key });
  const run = await poll(h.id);
  assert.equal(run.output, "Hello, Zoë");
  // Go: the key is idempotency.Derive(parts…), the memo's key text parts.join("-").
  report({ case: "parts", task: "hello", key, runs: 1, ids: [h.id], parts, keyText: parts.join("-") });
});

test("a key given as text: the SDK hashes it as Once hashes Parts{text}", async () => {
  const text = uniq("order");
  const h = await tasks.trigger("hello", { name: "Ada" }, { idempotencyKey: text });
  await poll(h.id);
  // Go triggers idempotency.Parts{text} and must find this run.
  report({ case: "text-key", task: "hello", key: await idempotencyKeys.create(text), runs: 1, ids: [h.id], parts: [text], keyText: text, goTrigger: true });
});

test("delay: the run waits, DELAYED until then", async () => {
  const key = await idempotencyKeys.create(uniq("delay"));
  const h = await tasks.trigger("hello", { name: "Later" }, { idempotencyKey: key, delay: "1h" });
  const run = await runs.retrieve(h.id);
  assert.equal(run.status, "DELAYED");
  assert.equal(run.isQueued, true);
  assert.equal(run.isCompleted, false);
  assert.ok(run.delayedUntil instanceof Date);
  const inAnHour = Date.now() + 3600_000;
  assert.ok(Math.abs(run.delayedUntil.getTime() - inAnHour) < 60_000, `delayedUntil ${run.delayedUntil.toISOString()}`);
  report({ case: "delay", task: "hello", key, runs: 1, ids: [h.id] });
});

test("debounce: a burst of triggers is one run with the last payload, DELAYED until it starts", async () => {
  const opts = { debounce: { key: uniq("burst"), delay: "2s", mode: "trailing" } };
  const handles = [];
  for (let i = 0; i < 3; i++) {
    handles.push(await tasks.trigger("fast-child", { i }, opts));
  }
  assert.equal(new Set(handles.map((h) => h.id)).size, 1, "one run for the burst");
  assert.ok(handles.every((h) => h.isCached === false));
  const pending = await runs.retrieve(handles[0].id);
  assert.equal(pending.status, "DELAYED");
  assert.equal(pending.isCompleted, false);
  const run = await poll(handles[2].id);
  assert.equal(run.status, "COMPLETED");
  assert.deepEqual(run.output, { i: 2 });
  assert.equal(run.id, handles[0].id);
  report({ case: "debounce", task: "fast-child", runs: 1, ids: [run.id] });
});

test("20 concurrent triggers of one key: one run", async () => {
  const key = await idempotencyKeys.create(uniq("concurrent"));
  const handles = await Promise.all(
    Array.from({ length: 20 }, (_, i) => tasks.trigger("hello", { name: "Ada" }, { idempotencyKey: key })),
  );
  const ids = new Set(handles.map((h) => h.id));
  assert.equal(ids.size, 1, `one run id for all: ${[...ids]}`);
  assert.equal(handles.filter((h) => h.isCached === false).length, 1, "exactly one caller started it");
  report({ case: "concurrent", task: "hello", key, runs: 1, ids: [...ids] });
});

test("an expired key (idempotencyKeyTTL) starts a new run", async () => {
  const key = await idempotencyKeys.create(uniq("ttl"));
  const first = await tasks.trigger("hello", { name: "Ada" }, { idempotencyKey: key, idempotencyKeyTTL: "2s" });
  await poll(first.id);
  const cached = await tasks.trigger("hello", { name: "Ada" }, { idempotencyKey: key, idempotencyKeyTTL: "2s" });
  assert.equal(cached.id, first.id);
  await new Promise((r) => setTimeout(r, 2500));
  const second = await tasks.trigger("hello", { name: "Ada" }, { idempotencyKey: key, idempotencyKeyTTL: "2s" });
  assert.notEqual(second.id, first.id);
  assert.equal(second.isCached, false);
  report({ case: "ttl", task: "hello", key, runs: 2, ids: [first.id, second.id] });
});

test("a failed run releases its key (trigger.dev v4): the next trigger starts a new run", async () => {
  const key = await idempotencyKeys.create(uniq("failed"));
  const first = await tasks.trigger("failing-child", {}, { idempotencyKey: key });
  const run = await poll(first.id);
  assert.equal(run.status, "FAILED");
  assert.equal(run.isFailed, true);
  assert.equal(run.isSuccess, false);
  assert.equal(run.error?.message, "failing-child fails");
  assert.equal(run.output, undefined);
  const second = await tasks.trigger("failing-child", {}, { idempotencyKey: key });
  assert.notEqual(second.id, first.id);
  assert.equal(second.isCached, false);
  report({ case: "failed", task: "failing-child", key, runs: 2, ids: [first.id, second.id] });
});

test("a payload with a Date reaches the task as its ISO string", async () => {
  const at = new Date("2026-03-04T05:06:07.089Z");
  const key = await idempotencyKeys.create(uniq("date"));
  const h = await tasks.trigger("fast-child", { at, n: 1, nested: { list: [at, "x"] } }, { idempotencyKey: key });
  const run = await poll(h.id);
  assert.equal(run.status, "COMPLETED");
  assert.deepEqual(run.output, { at: at.toISOString(), n: 1, nested: { list: [at.toISOString(), "x"] } });
  // runs.retrieve reads the same, after completion.
  const again = await runs.retrieve(h.id);
  assert.deepEqual(again.output, run.output);
  report({ case: "date", task: "fast-child", key, runs: 1, ids: [h.id] });
});

test("idempotencyKeys.reset: the next trigger starts a new run", async () => {
  const key = await idempotencyKeys.create(uniq("reset"));
  const first = await tasks.trigger("hello", { name: "Ada" }, { idempotencyKey: key });
  await poll(first.id);
  const res = await idempotencyKeys.reset("hello", key);
  assert.equal(res.id, key);
  const second = await tasks.trigger("hello", { name: "Bob" }, { idempotencyKey: key });
  assert.notEqual(second.id, first.id);
  assert.equal((await poll(second.id)).output, "Hello, Bob");
  assert.equal((await runs.retrieve(first.id)).output, "Hello, Ada", "the old run stays readable");
  await assert.rejects(idempotencyKeys.reset("hello", await idempotencyKeys.create(uniq("nokey"))), (err) => err.status === 404);
  report({ case: "reset", task: "hello", key, runs: 2, ids: [first.id, second.id] });
});

test("batchTrigger with a batch key, twice: one set of runs", async () => {
  const batchKey = await idempotencyKeys.create(uniq("batch"));
  const items = [{ payload: { i: 0 } }, { payload: { i: 1 } }, { payload: { i: 2 } }];
  const first = await tasks.batchTrigger("fast-child", items, { idempotencyKey: batchKey });
  const second = await tasks.batchTrigger("fast-child", items, { idempotencyKey: batchKey });
  assert.equal(first.runCount, 3);
  assert.equal(second.batchId, first.batchId);
  // The SDK keys each item hash(batch key, index): Once's BatchItemKey.
  for (let i = 0; i < items.length; i++) {
    const key = await idempotencyKeys.create([batchKey, `${i}`], { scope: "global" });
    report({ case: "batch", task: "fast-child", key, runs: 1, ids: [], batchKey, index: i });
  }
});

test("batchTrigger with per-item keys and a duplicate item", async () => {
  const a = await idempotencyKeys.create(uniq("item-a"));
  const b = await idempotencyKeys.create(uniq("item-b"));
  const h = await tasks.batchTrigger("fast-child", [
    { payload: { v: "a" }, options: { idempotencyKey: a } },
    { payload: { v: "b" }, options: { idempotencyKey: b } },
    { payload: { v: "a" }, options: { idempotencyKey: a } },
  ]);
  assert.equal(h.runCount, 3);
  report({ case: "items", task: "fast-child", key: a, runs: 1, ids: [] });
  report({ case: "items", task: "fast-child", key: b, runs: 1, ids: [] });
});

test("a 500 on the first try: the SDK's retry makes one run", async () => {
  await auth.withAuth({ baseURL: ONCE_FLAKY_URL, accessToken: TRIGGER_SECRET_KEY }, async () => {
    // No key: the request's x-trigger-request-idempotency-key, the same on
    // the retry, keys it (Go checks the runs of that key).
    const h = await tasks.trigger("fast-child", { flaky: true });
    assert.equal(h.isCached, true, "the retry finds the run the first try started");
    const run = await poll(h.id);
    assert.deepEqual(run.output, { flaky: true });
    report({ case: "flaky-trigger", task: "fast-child", runs: 1, ids: [h.id] });

    // The items call too: the SDK resends the whole stream.
    const batchKey = await idempotencyKeys.create(uniq("flaky-batch"));
    await tasks.batchTrigger("fast-child", [{ payload: { j: 0 } }, { payload: { j: 1 } }], { idempotencyKey: batchKey });
    for (let i = 0; i < 2; i++) {
      const key = await idempotencyKeys.create([batchKey, `${i}`], { scope: "global" });
      report({ case: "flaky-batch", task: "fast-child", key, runs: 1, ids: [] });
    }
  });
});

test("a wrong token: an error, and nothing started", async () => {
  const key = await idempotencyKeys.create(uniq("wrong-token"));
  await auth.withAuth({ baseURL: TRIGGER_API_URL, accessToken: "tr_dev_" + randomUUID() }, async () => {
    await assert.rejects(tasks.trigger("hello", { name: "Eve" }, { idempotencyKey: key }), (err) => err.status === 401);
  });
  report({ case: "wrong-token", task: "hello", key, runs: 0, ids: [] });
});

test("an unknown run: 404", async () => {
  await assert.rejects(runs.retrieve("run_" + Buffer.from("hello/nope/nope").toString("base64url")), (err) => err.status === 404);
});
