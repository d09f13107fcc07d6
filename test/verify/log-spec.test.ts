import assert from "node:assert/strict";
import { test } from "node:test";
import { HistoryRecorder } from "../../verify/history/history.ts";
import { type LogInput, type LogOutput, checkLogHistory, partitionLog } from "../../verify/spec/log.ts";

type H = HistoryRecorder<LogInput, LogOutput>;
const fresh = (): H => new HistoryRecorder<LogInput, LogOutput>();
const append = (h: H, c: number, key: string) => h.invoke(c, { kind: "append", key });
const read = (h: H, c: number, slot: number) => h.invoke(c, { kind: "read", slot });
const fill = (h: H, c: number, slot: number) => h.invoke(c, { kind: "fill", slot });
const check = (h: H) => checkLogHistory(h.operations());

test("a good history: appends, reads, a fill that lost to a slow appender, a retried key", () => {
  const h = fresh();
  const a = append(h, 0, "a#1");
  const b = append(h, 1, "b#1");
  h.ok(a, { kind: "appended", slot: 0 });
  const r0 = read(h, 2, 0);
  const f1 = fill(h, 2, 1);
  h.ok(r0, { kind: "entry", key: "a#1" });
  h.ok(f1, { kind: "entry", key: "b#1" }); // b's write landed first: the filler found it
  h.ok(b, { kind: "appended", slot: 1 });
  const f2 = fill(h, 2, 2);
  h.ok(f2, { kind: "fill" });
  // A crashed appender's key, retried by a fresh one: the first attempt landed at 3.
  const c1 = append(h, 3, "c#1");
  h.unknown(c1);
  const c2 = append(h, 4, "c#1");
  h.ok(c2, { kind: "appended", slot: 3 });
  const r = [read(h, 2, 1), read(h, 2, 2), read(h, 2, 3)];
  h.ok(r[0]!, { kind: "entry", key: "b#1" });
  h.ok(r[1]!, { kind: "fill" });
  h.ok(r[2]!, { kind: "entry", key: "c#1" });
  // An unknown append that left no trace is dropped.
  h.unknown(append(h, 5, "d#1"));
  const v = check(h);
  assert.ok(v.ok, JSON.stringify(v));
  assert.equal(v.verdict.partitions, 4);
});

test("an unknown append is placed at the slot where its key was seen, and may explain a read", () => {
  const h = fresh();
  const a = append(h, 0, "a#1");
  h.unknown(a);
  const r = read(h, 1, 7);
  h.ok(r, { kind: "entry", key: "a#1" });
  assert.ok(check(h).ok);
  const { partitions } = partitionLog(h.operations());
  assert.deepEqual(
    partitions.map((p) => [p.key, p.ops.map((o) => o.input.kind)]),
    [["slot 7", ["write", "read"]]],
  );
});

test("a slot whose value changes is rejected", () => {
  const h = fresh();
  const a = append(h, 0, "a#1");
  h.ok(a, { kind: "appended", slot: 0 });
  const r1 = read(h, 1, 0);
  h.ok(r1, { kind: "entry", key: "a#1" });
  const r2 = read(h, 1, 0);
  h.ok(r2, { kind: "fill" });
  const v = check(h);
  assert.equal(v.ok, false);
  assert.match(v.ok ? "" : v.violations.join(), /slot 0/);
});

test("a fill at a slot where an append was acknowledged is rejected", () => {
  const h = fresh();
  const a = append(h, 0, "a#1");
  h.ok(a, { kind: "appended", slot: 4 });
  const f = fill(h, 1, 4);
  h.ok(f, { kind: "fill" });
  assert.equal(check(h).ok, false);
});

test("a read that returns a key before its append was invoked is rejected", () => {
  const h = fresh();
  const r = read(h, 1, 0);
  h.ok(r, { kind: "entry", key: "a#1" });
  const a = append(h, 0, "a#1");
  h.ok(a, { kind: "appended", slot: 0 });
  assert.equal(check(h).ok, false);
  // Also when the append's outcome is unknown, and when there is no append at all.
  const u = fresh();
  const r2 = read(u, 1, 0);
  u.ok(r2, { kind: "entry", key: "a#1" });
  u.unknown(append(u, 0, "a#1"));
  assert.equal(check(u).ok, false);
  const none = fresh();
  none.ok(read(none, 1, 0), { kind: "entry", key: "x#9" });
  assert.equal(check(none).ok, false);
});

test("two keys acknowledged at one slot are rejected", () => {
  const h = fresh();
  const a = append(h, 0, "a#1");
  const b = append(h, 1, "b#1");
  h.ok(a, { kind: "appended", slot: 2 });
  h.ok(b, { kind: "appended", slot: 2 });
  const v = check(h);
  assert.equal(v.ok, false);
  assert.match(v.ok ? "" : v.violations.join(), /slot 2/);
});

test("a key observed at two slots is a violation even when each slot is consistent", () => {
  const h = fresh();
  const a = append(h, 0, "a#1");
  h.ok(read(h, 1, 5), { kind: "entry", key: "a#1" });
  h.ok(a, { kind: "appended", slot: 0 });
  const v = check(h);
  assert.equal(v.ok, false);
  assert.equal(v.ok ? undefined : v.violations[0], "key a#1 observed at two slots: 0 and 5");
});
