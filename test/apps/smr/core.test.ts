/**
 * The SMR's pure core without a network: the log records' codec, the replicated state (a retried
 * key applied once, checkpoints at the same positions everywhere, a restored checkpoint replaying to
 * the digest of the whole replay), and the `SmrObserver` noticing each kind of violation.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { DecodeError } from "../../../apps/log/core/bytes.ts";
import { digestOf } from "../../../apps/smr/core/digest.ts";
import { SmrObserver } from "../../../apps/smr/core/invariants.ts";
import { REPLICA_DEFAULTS } from "../../../apps/smr/core/messages.ts";
import { type MapCommand, mapMachine } from "../../../apps/smr/core/map-machine.ts";
import { type Proposal, type SmrRecord, decodeRecord, encodeRecord, keyOf } from "../../../apps/smr/core/records.ts";
import { ReplicatedState } from "../../../apps/smr/core/state.ts";
import { plantBugForTest } from "../../../verify/runtime/planted.ts";

const utf8 = new TextEncoder();
const limits = { ...REPLICA_DEFAULTS, checkpointCommands: 5, checkpointBytes: 1 << 20 };

const command = fc.oneof(
  fc.record({ op: fc.constant("put" as const), key: fc.constantFrom("a", "b", "c"), value: fc.uint8Array({ maxLength: 8 }) }),
  fc.record({ op: fc.constant("delete" as const), key: fc.constantFrom("a", "b", "c") }),
);
/** Batches of proposals by two clients, seqs in order per client; some proposals repeat an earlier one (a retry). */
const batches = fc.array(fc.array(fc.record({ client: fc.constantFrom("x", "y"), command, retry: fc.boolean() }), { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 12 }).map((bs) => {
  const seqs = new Map<string, number>();
  const sent: Proposal[] = [];
  return bs.map((b) =>
    b.map(({ client, command: c, retry }): Proposal => {
      const earlier = sent.filter((p) => p.client === client);
      if (retry && earlier.length > 0) return earlier[earlier.length - 1]!;
      const seq = seqs.get(client) ?? 0;
      seqs.set(client, seq + 1);
      const p = { client, seq, ackedBelow: Math.max(0, seq - 2), command: mapMachine.command.encode(c as MapCommand) };
      sent.push(p);
      return p;
    }),
  );
});

/** Apply `records` to `state`; the keys executed (not answered from the session table). */
function applyAll(state: ReplicatedState, records: readonly SmrRecord[]): string[] {
  const executed: string[] = [];
  for (const r of records) state.apply(r, encodeRecord(r).length, (p, _o, ex) => void (ex && executed.push(keyOf(p))));
  return executed;
}

describe("SMR core", () => {
  it("log records round-trip, and damaged bytes decode to an error, never a throw", () => {
    fc.assert(
      fc.property(batches, fc.nat({ max: 1_000 }), fc.string({ maxLength: 20 }), (bs, position, holder) => {
        for (const r of [...bs.map((proposals): SmrRecord => ({ kind: "batch", proposals })), { kind: "checkpoint", record: { position, digest: "00ff", holder: holder || "h", bytes: 3 } } as SmrRecord]) {
          const bytes = encodeRecord(r);
          assert.deepEqual(decodeRecord(bytes), r);
          for (const cut of [1, Math.floor(bytes.length / 2), bytes.length - 1]) assert.ok(decodeRecord(bytes.subarray(0, cut)) instanceof DecodeError);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("a retried key is executed once and answered with its first result; with the planted applyRetryTwice it runs again", () => {
    const put = (value: string): Proposal => ({ client: "x", seq: 0, ackedBelow: 0, command: mapMachine.command.encode({ op: "put", key: "a", value: utf8.encode(value) }) });
    const records: SmrRecord[] = [{ kind: "batch", proposals: [put("1")] }, { kind: "batch", proposals: [put("1"), put("2")] }];
    const results: (string | null)[] = [];
    const run = () => {
      const s = new ReplicatedState(mapMachine, limits);
      const executed: string[] = [];
      for (const r of records) s.apply(r, 1, (p, o, ex) => {
        if (ex) executed.push(keyOf(p));
        if (o.ok) results.push(((v) => (v instanceof Uint8Array ? new TextDecoder().decode(v) : null))(mapMachine.result.decode(o.result)));
      });
      return { executed, s };
    };
    const { executed, s } = run();
    assert.deepEqual(executed, ["x#0"]);
    assert.deepEqual(results, [null, null, null], "every copy answered with the first result");
    assert.equal(new TextDecoder().decode(mapMachine.answer.decode(s.query(mapMachine.query.encode({ key: "a" })) as Uint8Array) as Uint8Array), "1");
    const observer = new SmrObserver();
    const twice = plantBugForTest("applyRetryTwice", () => run().executed);
    assert.deepEqual(twice, ["x#0", "x#0", "x#0"]);
    assert.deepEqual(
      twice.flatMap((k, slot) => observer.executed("r0", k, slot)),
      ["command x#0 applied twice: at slot 0, and by r0 at slot 1", "command x#0 applied twice: at slot 0, and by r0 at slot 2"],
    );
  });

  it("a checkpoint restored and replayed reaches the digest of the whole replay, at every position", () => {
    fc.assert(
      fc.property(batches, fc.nat(), (bs, at) => {
        const records = bs.map((proposals): SmrRecord => ({ kind: "batch", proposals }));
        const cut = at % (records.length + 1);
        const whole = new ReplicatedState(mapMachine, limits);
        const executedWhole = applyAll(whole, records);
        const first = new ReplicatedState(mapMachine, limits);
        applyAll(first, records.slice(0, cut));
        const chunks = [...first.snapshot(cut)];
        const restored = new ReplicatedState(mapMachine, limits);
        const sink = restored.restorer(cut);
        for (const c of chunks) assert.equal(sink.chunk(c), undefined);
        assert.equal(sink.end(), undefined);
        assert.equal(restored.position, cut);
        assert.equal(digestOf(restored.snapshot(cut)), digestOf(chunks), "the restored state snapshots to the same digest");
        const executedRest = applyAll(restored, records.slice(cut));
        assert.equal(digestOf(restored.snapshot(records.length)), digestOf(whole.snapshot(records.length)));
        // The session table travels in the snapshot: a retry after the cut is not executed again.
        assert.deepEqual(executedRest, executedWhole.slice(executedWhole.length - executedRest.length));
      }),
      { numRuns: 150 },
    );
  });

  it("a snapshot of another position, or a damaged one, is refused and leaves the state as it was", () => {
    const s = new ReplicatedState(mapMachine, limits);
    applyAll(s, [{ kind: "batch", proposals: [{ client: "x", seq: 0, ackedBelow: 0, command: mapMachine.command.encode({ op: "put", key: "a", value: utf8.encode("1") }) }] }]);
    const chunks = [...s.snapshot(1)];
    const other = new ReplicatedState(mapMachine, limits);
    assert.match(other.restorer(2).chunk(chunks[0]!) ?? "", /the snapshot is of position 1, not 2/);
    const sink = other.restorer(1);
    assert.equal(sink.chunk(chunks[0]!), undefined);
    assert.equal(sink.end(), "the snapshot ended early");
    assert.equal(other.position, 0);
  });

  it("every replica checkpoints at the same positions: every checkpointCommands commands or checkpointBytes bytes", () => {
    const due: number[] = [];
    const s = new ReplicatedState(mapMachine, { ...limits, checkpointCommands: 3 });
    const p = (seq: number): Proposal => ({ client: "x", seq, ackedBelow: seq, command: mapMachine.command.encode({ op: "delete", key: "a" }) });
    for (let i = 0; i < 6; i++) if (s.apply({ kind: "batch", proposals: [p(2 * i), p(2 * i + 1)] }, 10, () => {})) due.push(s.position);
    // Two commands a slot: 4 ≥ 3 after slots 2, 4 and 6 (the count starts again at each checkpoint).
    assert.deepEqual(due, [2, 4, 6]);
    // …or every checkpointBytes bytes of log, whichever comes first (fills count too).
    const byBytes = new ReplicatedState(mapMachine, { ...limits, checkpointCommands: 1_000, checkpointBytes: 100 });
    const dueBytes = [40, 40, 40, 5, 90, 20].map((n) => byBytes.apply(undefined, n, () => {}));
    assert.deepEqual(dueBytes, [false, false, true, false, false, true]);
  });

  it("the observer reports each kind of violation", () => {
    const o = new SmrObserver();
    assert.deepEqual(o.applied("r0", 0, utf8.encode("v")), []);
    assert.deepEqual(o.applied("r1", 0, utf8.encode("w")), ["replica r1 applied another value at slot 0 than its peers"]);
    assert.deepEqual(o.applied("r0", 2, utf8.encode("v")), ["replica r0 applied slot 2 after slot 0"]);
    assert.deepEqual(o.answered("x#9", utf8.encode("r")), ["command x#9 was answered but never applied"]);
    assert.deepEqual(o.executed("r0", "x#1", 4), []);
    assert.deepEqual(o.answered("x#1", utf8.encode("r")), []);
    assert.deepEqual(o.answered("x#1", utf8.encode("s")), ["command x#1 was answered with two different results"]);
    assert.deepEqual(o.digest("r0", 5, "aa"), []);
    assert.deepEqual(o.digest("r1", 5, "bb"), ["replica r1 has digest bb at position 5, r0 had aa"]);
    // An install moves the replica's next slot to the snapshot's position.
    assert.deepEqual(o.digest("r2", 5, "aa", true), []);
    assert.deepEqual(o.applied("r2", 5, utf8.encode("z")), []);
  });
});
