import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { HistoryRecorder, type Operation } from "../../verify/history/history.ts";
import { checkOperations } from "../../verify/history/linearizability.ts";
import { type Address, type SpaceInput, type SpaceOutput, addressSpaceSpec, checkAddressSpace, partitionByAddress } from "../../verify/spec/address-space.ts";
import { type RegisterInput, type RegisterOutput, registerSpec } from "../../verify/spec/register.ts";
import { Prng } from "../../verify/runtime/prng.ts";

type Op = Operation<RegisterInput, RegisterOutput>;
let nextId = 1;
/** An operation over [call, ret]; ret Infinity and output undefined = unknown. */
function op(call: number, ret: number, input: RegisterInput, output: RegisterOutput | undefined): Op {
  return { id: nextId++, client: 0, input, call, ret, output };
}
const W = (value: string) => ({ kind: "write", value }) as const;
const R = { kind: "read" } as const;
const C = { kind: "capture" } as const;
const T = { kind: "trim" } as const;
const ok = { kind: "ok" } as const;
const written = (value: string) => ({ kind: "written", value }) as const;
const unwritten = { kind: "unwritten" } as const;
const trimmed = { kind: "trimmed" } as const;
const check = (ops: Op[]) => checkOperations(registerSpec, ops).ok;
const INF = Number.POSITIVE_INFINITY;

test("register: sequential and concurrent histories that are linearizable", () => {
  assert.ok(check([]));
  assert.ok(check([op(1, 2, R, unwritten), op(3, 4, W("a"), ok), op(5, 6, R, written("a"))]));
  // A read concurrent with the write may see either.
  assert.ok(check([op(1, 10, W("a"), ok), op(2, 3, R, written("a")), op(4, 5, R, written("a"))]));
  assert.ok(check([op(1, 10, W("a"), ok), op(2, 3, R, unwritten), op(4, 5, R, written("a"))]));
  // Two concurrent writes: one wins, the other learns it.
  assert.ok(check([op(1, 10, W("a"), ok), op(2, 9, W("b"), { kind: "alreadyWritten", value: "a" }), op(11, 12, R, written("a"))]));
  // Capture finds nothing, or finishes the value found.
  assert.ok(check([op(1, 2, C, { kind: "captured" }), op(3, 4, W("a"), ok), op(5, 6, C, written("a"))]));
  // alreadyWritten with our own value: our write landed (another capture finished it first).
  assert.ok(check([op(1, 10, W("a"), { kind: "alreadyWritten", value: "a" }), op(2, 3, C, written("a"))]));
  // A pending read says nothing.
  assert.ok(check([op(1, 2, W("a"), ok), op(3, 4, R, { kind: "pending" })]));
});

test("register: unknown outcomes may or may not take effect", () => {
  // A preempted write (unknown) that a later reader sees.
  assert.ok(check([op(1, INF, W("a"), undefined), op(5, 6, R, written("a"))]));
  // ... or that never landed.
  assert.ok(check([op(1, INF, W("a"), undefined), op(5, 6, R, unwritten), op(7, 8, W("b"), ok), op(9, 10, R, written("b"))]));
  // A write answered "preempted" counts as unknown too.
  assert.ok(check([op(1, 3, W("a"), { kind: "preempted" }), op(5, 6, R, written("a"))]));
  // But two unknown writes cannot both be seen.
  assert.equal(check([op(1, INF, W("a"), undefined), op(2, INF, W("b"), undefined), op(5, 6, R, written("a")), op(7, 8, R, written("b"))]), false);
});

test("register: histories that are not linearizable", () => {
  // A value read before anyone wrote it.
  assert.equal(check([op(1, 2, R, written("a")), op(3, 4, W("a"), ok)]), false);
  // Two different values both acknowledged.
  assert.equal(check([op(1, 2, W("a"), ok), op(3, 4, W("b"), ok)]), false);
  assert.equal(check([op(1, 5, W("a"), ok), op(2, 6, W("b"), ok)]), false);
  // A read that saw a value, then a read that saw nothing.
  assert.equal(check([op(1, 10, W("a"), ok), op(2, 3, R, written("a")), op(4, 5, R, unwritten)]), false);
  // Unwritten after an acknowledged write.
  assert.equal(check([op(1, 2, W("a"), ok), op(3, 4, R, unwritten)]), false);
  // A read that returned one value never sees another.
  assert.equal(check([op(1, INF, W("a"), undefined), op(1, INF, W("b"), undefined), op(2, 3, R, written("a")), op(4, 5, R, written("b"))]), false);
  // Captured (nothing accepted) after a write was acknowledged.
  assert.equal(check([op(1, 2, W("a"), ok), op(3, 4, C, { kind: "captured" })]), false);
  // alreadyWritten with a value nobody wrote.
  assert.equal(check([op(1, 2, W("a"), { kind: "alreadyWritten", value: "z" })]), false);
});

test("register: trims", () => {
  assert.ok(check([op(1, 2, W("a"), ok), op(3, 4, T, ok), op(5, 6, R, trimmed), op(7, 8, W("b"), trimmed)]));
  // After a trim completed, no write succeeds, and nothing reads a value other than the one chosen
  // (a client may still answer the chosen value from its cache).
  assert.equal(check([op(1, 2, T, ok), op(3, 4, W("a"), ok)]), false);
  assert.equal(check([op(1, 2, W("a"), ok), op(3, 4, T, ok), op(5, 6, R, unwritten)]), false);
  assert.equal(check([op(1, 2, W("a"), ok), op(3, 4, T, ok), op(5, 6, R, written("b"))]), false);
  assert.ok(check([op(1, 2, W("a"), ok), op(3, 4, T, ok), op(5, 6, R, written("a"))]));
  // Trimmed before any trim was invoked.
  assert.equal(check([op(1, 2, R, trimmed), op(3, 4, T, ok)]), false);
  // A trim with an unknown outcome may have reached a minority: reads may flap.
  assert.ok(check([op(1, 2, W("a"), ok), op(3, INF, T, undefined), op(5, 6, R, written("a")), op(7, 8, R, trimmed), op(9, 10, R, written("a"))]));
});

test("history recorder: fail drops, unknown returns at infinity, open ops are unknown", () => {
  const h = new HistoryRecorder<RegisterInput, RegisterOutput>(true);
  const a = h.invoke(1, W("a"));
  const b = h.invoke(2, W("b"));
  const c = h.invoke(3, R);
  h.fail(b);
  h.unknown(a);
  const d = h.invoke(4, R);
  h.ok(d, written("a"));
  const ops = h.operations();
  assert.deepEqual(
    ops.map((o) => o.id),
    [a, c, d],
  );
  assert.equal(ops.find((o) => o.id === a)!.ret, INF);
  assert.equal(ops.find((o) => o.id === c)!.output, undefined);
  assert.equal(h.pending, 1);
  assert.equal(h.events().length, 7);
  assert.throws(() => h.ok(b, ok));
  assert.ok(checkOperations(registerSpec, ops).ok);
});

/**
 * A concurrent history that is linearizable by construction: each operation gets a call time, a
 * linearization point inside its interval and a return time; outputs come from applying operations
 * in linearization-point order to an atomic model. Some writes end unknown (half of them took effect).
 */
function generate(seed: number, opsCount: number, addresses: readonly Address[], trims: boolean, width = 3): Operation<SpaceInput, SpaceOutput>[] {
  const p = new Prng(seed);
  type Planned = { input: SpaceInput; call: number; lin: number; ret: number; unknown: boolean; effect: boolean };
  const plan: Planned[] = [];
  let value = 0;
  for (let i = 0; i < opsCount; i++) {
    const call = p.float() * opsCount;
    const lin = call + p.float() * width;
    const ret = lin + p.float() * width;
    const r = p.int(100);
    let input: SpaceInput;
    if (trims && r < 1) {
      const a = p.pick(addresses);
      input = { kind: "trim", space: a.space, below: a.index + 1 };
    } else {
      const at = p.pick(addresses);
      input = { kind: "register", at, op: r < 45 ? { kind: "write", value: `v${value++}` } : r < 90 ? { kind: "read" } : { kind: "capture" } };
    }
    const unknown = (input.kind === "trim" || input.op.kind === "write") && p.chance(0.2);
    plan.push({ input, call, lin, ret, unknown, effect: !unknown || p.chance(0.5) });
  }
  const vals = new Map<string, string>();
  const marks = new Map<string, number>();
  const out = new Map<Planned, SpaceOutput>();
  for (const o of [...plan].sort((a, b) => a.lin - b.lin)) {
    if (o.input.kind === "trim") {
      if (o.effect) marks.set(o.input.space, Math.max(marks.get(o.input.space) ?? 0, o.input.below));
      out.set(o, ok);
      continue;
    }
    const key = `${o.input.at.space}[${o.input.at.index}]`;
    if (o.input.at.index < (marks.get(o.input.at.space) ?? 0)) {
      out.set(o, trimmed);
      continue;
    }
    const v = vals.get(key);
    const x = o.input.op;
    if (x.kind === "write") {
      if (v === undefined) {
        if (o.effect) vals.set(key, x.value);
        out.set(o, ok);
      } else out.set(o, { kind: "alreadyWritten", value: v });
    } else if (x.kind === "read") out.set(o, v === undefined ? unwritten : written(v));
    else out.set(o, v === undefined ? { kind: "captured" } : written(v));
  }
  return plan.map((o, i) => ({
    id: i + 1,
    client: i,
    input: o.input,
    call: o.call,
    ret: o.unknown ? INF : o.ret,
    output: o.unknown ? undefined : out.get(o),
  }));
}

const space = (n: number, spaces = 2): Address[] =>
  Array.from({ length: n }, (_, i) => ({ space: `s${i % spaces}`, index: Math.floor(i / spaces) }));

test("generated linearizable histories pass, partitioned and unpartitioned", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1e9 }), fc.integer({ min: 1, max: 25 }), fc.boolean(), (seed, n, trims) => {
      const addrs = space(3);
      const h = generate(seed, n, addrs, trims);
      assert.ok(checkAddressSpace(h).ok);
      assert.ok(checkOperations(addressSpaceSpec(addrs), h).ok);
    }),
    { numRuns: 200 },
  );
});

test("partitioned and unpartitioned checks agree on arbitrary small histories without trims", () => {
  const addrs = space(2, 1);
  const arbOp = fc.record({
    addr: fc.integer({ min: 0, max: 1 }),
    kind: fc.constantFrom("write", "read", "capture"),
    value: fc.constantFrom("a", "b"),
    out: fc.constantFrom("ok", "written-a", "written-b", "unwritten", "captured", "unknown", "already-a"),
    call: fc.integer({ min: 0, max: 20 }),
    len: fc.integer({ min: 1, max: 10 }),
  });
  fc.assert(
    fc.property(fc.array(arbOp, { maxLength: 7 }), (raw) => {
      const h: Operation<SpaceInput, SpaceOutput>[] = raw.map((r, i) => {
        const op: Exclude<RegisterInput, { kind: "trim" }> = r.kind === "write" ? W(r.value) : r.kind === "read" ? R : C;
        const output: SpaceOutput | undefined =
          r.out === "unknown"
            ? undefined
            : r.out === "ok"
              ? ok
              : r.out === "already-a"
                ? { kind: "alreadyWritten", value: "a" }
                : r.out.startsWith("written")
                  ? written(r.out.slice(-1))
                  : r.out === "captured"
                    ? { kind: "captured" }
                    : unwritten;
        return { id: i + 1, client: i, input: { kind: "register", at: addrs[r.addr]!, op }, call: r.call, ret: output ? r.call + r.len : INF, output };
      });
      assert.equal(checkAddressSpace(h).ok, checkOperations(addressSpaceSpec(addrs), h).ok);
    }),
    { numRuns: 500 },
  );
});

test("a 10K-operation partitioned history is checked in seconds; one corrupted read is caught", () => {
  const addrs = space(400, 4);
  const h = generate(20260, 10_000, addrs, true);
  const t0 = performance.now();
  const v = checkAddressSpace(h, { stepsMax: 2_000_000 });
  const ms = performance.now() - t0;
  assert.ok(v.ok, JSON.stringify(v));
  assert.equal(v.operations >= 10_000, true);
  console.log(`# 10K ops, ${v.partitions} partitions: ${ms.toFixed(0)} ms, ${v.steps} steps`);
  // Corrupt one read of a written value into a value nobody wrote at that address.
  const i = h.findIndex((o) => o.output?.kind === "written" && o.input.kind === "register" && o.input.op.kind === "read");
  assert.ok(i >= 0);
  const bad = [...h];
  bad[i] = { ...h[i]!, output: written("never-written") };
  const v2 = checkAddressSpace(bad, { stepsMax: 2_000_000 });
  assert.equal(v2.ok, false);
  if (!v2.ok) {
    assert.equal(v2.verdict.timedOut, false);
    const target = h[i]!.input as Extract<SpaceInput, { kind: "register" }>;
    assert.equal(v2.partition, `${target.at.space}[${target.at.index}]`);
  }
});

test("a 10K-operation history on few addresses with heavy concurrency stays tractable", () => {
  // 5 addresses, ~2,000 operations each, about a dozen overlapping at any instant.
  const h = generate(77, 10_000, space(5, 1), false, 30);
  const parts = partitionByAddress(h);
  assert.equal(parts.length, 5);
  const t0 = performance.now();
  const v = checkAddressSpace(h, { stepsMax: 5_000_000 });
  assert.ok(v.ok, JSON.stringify(v).slice(0, 500));
  console.log(`# 10K ops, 5 partitions, heavy overlap: ${(performance.now() - t0).toFixed(0)} ms, ${v.steps} steps`);
});
