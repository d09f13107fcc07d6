/**
 * A sequencer's recovery keeps idempotency keys exactly-once across processes and failovers
 * (apps/log/core/recovery.ts, issue 9 item 3): over an in-memory cluster of real acceptors, keys
 * retried through many successive sequencers, a half-written attempt in an old segment, the
 * sealed-below marks in segment metadata, the dedupe window's bound, a legacy log without marks,
 * and a seal of a segment holding more values than one accept may carry.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { LIMITS } from "../../../paxos/limits.ts";
import { FILL_BYTES, encodeEntry } from "../../../apps/log/core/entry.ts";
import { LogObserver } from "../../../apps/log/core/invariants.ts";
import { KeyTable } from "../../../apps/log/core/key-table.ts";
import { firstToRecover } from "../../../apps/log/core/recovery.ts";
import { LOG_SEGMENT_META, type LogSegmentMeta } from "../../../apps/log/core/segments.ts";
import { SEQUENCER_DEFAULTS, type SequencerConfig, SequencerCore } from "../../../apps/log/core/sequencer.ts";
import type { GrantRequest, LogResult } from "../../../apps/log/core/steps.ts";
import type { Grant } from "../../../apps/log/core/tokens.ts";
import { lastSegment } from "../../../wor/core/segments.ts";
import type { RegisterStep } from "../../../wor/core/steps.ts";
import { drive, registerStep } from "../../../wor/node/driver.ts";
import { LogError, WormLog } from "../../../apps/log/node/log-client.ts";
import { SequencerNode } from "../../../apps/log/node/sequencer-node.ts";
import type { WorClient } from "../../../wor/node/client.ts";
import { MemoryCluster, bytes } from "../../wor/memory-cluster.ts";

const SEGMENT = 64;
/** A sequencer that never seals behind itself while the test runs. */
const NEVER = 1e9;

describe("sequencer recovery keeps keys exactly-once", () => {
  let cluster: MemoryCluster;
  before(async () => {
    cluster = await MemoryCluster.start(3);
  });
  after(() => cluster.close());

  let owners = 0;
  /** A fresh process: its own client, an embedded sequencer with a new owner, a log client. */
  const incarnation = (log: string, config: Partial<SequencerConfig> = {}, segmentSize = SEGMENT) => {
    const { client, transport } = cluster.client({ segmentSize });
    const seq = new SequencerNode({ client, owner: `owner-${++owners}`, config: { retryMs: 5, ...config } });
    return { client, transport, seq, log: new WormLog({ client, log, tokens: seq, read: { holeTimeoutMs: 50, pollMs: 5 } }) };
  };
  const meta = async (log: string) => {
    const { client } = cluster.client({ segmentSize: SEGMENT });
    const r = await drive(lastSegment(log, LOG_SEGMENT_META), client);
    assert.ok(r.ok);
    return r.value;
  };

  it("a key appended by ten successive single-writer processes is stored once (each claims fresh segments)", async () => {
    await WormLog.create(cluster.client().client, "runs");
    const got: { slot: number; duplicate: boolean }[] = [];
    for (let run = 0; run < 10; run++) {
      // A window of 4 segments holding entries: the runs leave 20 segments, all but one fills only.
      const p = incarnation("runs", { dedupeSegments: 4 });
      got.push(await p.log.append(bytes("pay"), { key: { client: "cli", seq: 7 } }));
      p.seq.close();
    }
    assert.deepEqual(got, [{ slot: 0, duplicate: false }, ...Array.from({ length: 9 }, () => ({ slot: 0, duplicate: true }))]);
    const last = await meta("runs");
    assert.ok(last.segment >= 18, "every run claimed fresh segments");
    assert.deepEqual(last.meta.entrySegments, [0], "the metadata lists the one sealed segment holding entries");

    // The next recovery reads back only that segment and seals the last run's: its cost does not
    // grow with the number of runs.
    const { client } = cluster.client({ segmentSize: SEGMENT });
    const core = new SequencerCore({ ...SEQUENCER_DEFAULTS, log: "runs", owner: "bare", segmentSize: SEGMENT, retryMs: 5 });
    const read = new Set<number>();
    const grant = await grantFrom(core, client, { asks: [{ key: { client: "cli", seq: 7 }, streams: [] }] }, (step) => {
      if (step.kind === "read" && step.space === "runs") for (let i = step.from; i < step.to; i += SEGMENT) read.add(Math.floor(i / SEGMENT));
    });
    assert.ok(grant.ok);
    assert.deepEqual(grant.value.tokens[0]!.priors, [0]);
    const suffix = Array.from({ length: last.segment + 1 - last.meta.sealedBelow! }, (_, k) => last.meta.sealedBelow! + k);
    assert.deepEqual([...read].sort((a, b) => a - b), [0, ...suffix]);
  });

  it("an attempt accepted by one acceptor in an old segment is sealed by the next recovery, not finished beside the retry", async () => {
    await WormLog.create(cluster.client().client, "half");
    const key = { client: "crashed", seq: 1 };
    const a = incarnation("half", { sealAfterMs: NEVER });
    // The appender gets slot 0 and dies with its write at acceptor 0 only.
    const g = await a.seq.grant("half", { asks: [{ key, streams: [] }] });
    assert.ok(g.ok);
    const t = g.value.tokens[0]!;
    const { client: lonely, transport } = cluster.client({ segmentSize: SEGMENT, roundTimeoutMs: 100 });
    transport.disconnect(1);
    transport.disconnect(2);
    await assert.rejects(lonely.writeMany(t.capture, [{ index: t.slot, value: encodeEntry({ key, streams: [], payload: bytes("pay") }) }]), /timeout|no quorum/);
    // The sequencer moves on three segments, never sealing behind itself; then it dies.
    for (let i = 0; i < 3 * SEGMENT; i++) await a.log.append(bytes(`e${i}`));
    a.seq.close();
    assert.equal((await meta("half")).meta.sealedBelow, 0, "nothing was sealed behind the first sequencer");

    // A restarted appender retries through a new sequencer, whose recovery sealed slot 0 for good.
    const b = incarnation("half");
    const retry = await b.log.append(bytes("pay"), { key });
    assert.notEqual((await b.log.read(0)).kind, "unwritten", "the recovery decided the half-written slot");
    assert.ok(retry.slot === 0 ? retry.duplicate : (await b.log.read(0)).kind === "fill", `retry at ${retry.slot}`);

    // A reader that sees acceptor 0 (the half-written value) settles every slot: the key is once.
    const { client: rc, transport: rt } = cluster.client({ segmentSize: SEGMENT });
    rt.disconnect(1);
    const reader = new WormLog({ client: rc, log: "half", read: { holeTimeoutMs: 20, pollMs: 5 } });
    const all = await reader.readRange(0, await b.log.tail());
    const obs = new LogObserver();
    const violations = all.flatMap((s) => obs.observe(s));
    violations.push(...obs.acked(key, retry.slot));
    assert.deepEqual(violations, []);
    b.seq.close();
  });

  it("a sequencer seals behind itself and records the mark; the next recovery seals only the unsealed suffix", async () => {
    await WormLog.create(cluster.client().client, "marks");
    const a = incarnation("marks", { sealAfterMs: 0 });
    for (let i = 0; i < 5 * SEGMENT; i++) await a.log.append(bytes(`e${i}`), { key: { client: "a", seq: i } });
    a.seq.close();
    const last = await meta("marks");
    assert.ok(last.meta.sealedBelow !== undefined && last.meta.sealedBelow >= 3, `sealed below ${last.meta.sealedBelow} of ${last.segment}`);

    // Count the captures the next recovery makes: only the unsealed suffix is captured, the rest
    // of the dedupe window is read back (and every key of it is known).
    const { client } = cluster.client({ segmentSize: SEGMENT });
    const core = new SequencerCore({ ...SEQUENCER_DEFAULTS, log: "marks", owner: "bare", segmentSize: SEGMENT, retryMs: 5 });
    let captured = 0;
    const grant = await grantFrom(core, client, { asks: [{ key: { client: "a", seq: 3 }, streams: [] }] }, (step) => {
      if (step.kind === "capture" && step.space === "marks") captured += step.to - step.from;
    });
    assert.ok(grant.ok, JSON.stringify(grant));
    assert.deepEqual(grant.value.tokens[0]!.priors, [3], "the key table was rebuilt from the sealed segments");
    assert.equal(core.status.dedupeFrom, 0, "the whole log is within the dedupe window");
    const suffix = (last.segment + 1 - last.meta.sealedBelow!) * SEGMENT;
    assert.ok(captured <= suffix + SEGMENT, `recovery captured ${captured} slots (unsealed suffix ${suffix}, plus the new segment)`);
  });

  it("past the dedupe window a retry that says where its first attempt may be is refused, inside it the key is found", async () => {
    await WormLog.create(cluster.client().client, "window");
    const key = { client: "w", seq: 1 };
    const first = incarnation("window", { dedupeSegments: 4 });
    const at = await first.log.append(bytes("pay"), { key });
    first.seq.close();
    // Each later process claims fresh segments; the key stays known while within 4 segments.
    const p = incarnation("window", { dedupeSegments: 4 });
    assert.deepEqual(await p.log.append(bytes("pay"), { key, since: 0 }), { slot: at.slot, duplicate: true });
    p.seq.close();
    for (let run = 0; run < 3; run++) {
      const q = incarnation("window", { dedupeSegments: 4 });
      await q.log.append(bytes(`filler-${run}`));
      q.seq.close();
    }
    const late = incarnation("window", { dedupeSegments: 4 });
    await assert.rejects(late.log.append(bytes("pay"), { key, since: at.slot }), (e: unknown) => {
      assert.ok(e instanceof LogError && e.failure.code === "exhausted", String(e));
      assert.match(e.failure.message, /key w#1: an earlier attempt may be at slot 0 or later, but this sequencer knows the keys from slot \d+ on \(its dedupe window\)/);
      return true;
    });
    late.seq.close();
  });

  it("a log whose segments carry no sealed-below mark (written before marks) is sealed over the whole window", async () => {
    const { client } = cluster.client({ segmentSize: SEGMENT });
    await WormLog.create(client, "legacy");
    const key = { client: "old", seq: 1 };
    // An older sequencer: metadata {"sequencer": owner} only, a key at slot 5, segments 0..3.
    for (let s = 0; s < 4; s++) await client.alloc("legacy", s, new TextEncoder().encode(JSON.stringify({ sequencer: "old" })));
    const c = await client.captureRange("legacy", 0, SEGMENT);
    assert.equal(c._tag, "Captured");
    if (c._tag !== "Captured") return;
    await client.writeMany(c.capture, [{ index: 5, value: encodeEntry({ key, streams: [], payload: bytes("pay") }) }]);
    assert.deepEqual(LOG_SEGMENT_META.decode(new TextEncoder().encode(JSON.stringify({ sequencer: "old" }))), { owner: "old" });
    const marked = { sealedBelow: 3, entriesFrom: 1, entrySegments: [2] };
    assert.deepEqual(LOG_SEGMENT_META.decode(LOG_SEGMENT_META.encode({ owner: "new", ...marked })), { owner: "new", ...marked });
    assert.deepEqual(JSON.parse(new TextDecoder().decode(LOG_SEGMENT_META.encode({ owner: "new", ...marked }))).sequencer, "new", "older readers still find the owner");
    // Metadata as sequencers wrote it before segment ownership moved to wor/core still reads whole.
    const written = '{"sequencer":"s1","address":"h:7","sealedBelow":3,"entriesFrom":1,"entrySegments":[2]}';
    assert.deepEqual(LOG_SEGMENT_META.decode(new TextEncoder().encode(written)), { owner: "s1", address: "h:7", ...marked });
    assert.deepEqual(JSON.parse(new TextDecoder().decode(LOG_SEGMENT_META.encode({ owner: "s1", address: "h:7", ...marked }))), JSON.parse(written), "and is written the same way");
    const p = incarnation("legacy");
    assert.deepEqual(await p.log.append(bytes("pay"), { key }), { slot: 5, duplicate: true });
    assert.equal((await p.log.read(6)).kind, "fill", "the old segments were sealed");
    p.seq.close();
  });

  it(`a seal of a segment holding more than ${LIMITS.entriesMax} written values works (chunked captures)`, { timeout: 60_000 }, async () => {
    const big = 2 * LIMITS.entriesMax;
    const { client } = cluster.client({ segmentSize: big, roundTimeoutMs: 5_000 });
    await WormLog.create(client, "big");
    await client.alloc("big", 0, LOG_SEGMENT_META.encode({ owner: "old" }));
    const c = await client.captureRange("big", 0, big);
    assert.equal(c._tag, "Captured");
    if (c._tag !== "Captured") return;
    // Every slot but every tenth holds a value: each half of the segment has holes to fill.
    const slots = Array.from({ length: big }, (_, i) => i).filter((i) => i % 10 !== 9);
    for (let k = 0; k < slots.length; k += LIMITS.entriesMax) {
      await client.writeMany(c.capture, slots.slice(k, k + LIMITS.entriesMax).map((index) => ({ index, value: FILL_BYTES })));
    }
    const p = incarnation("big", {}, big);
    const r = await p.log.append(bytes("after"));
    assert.equal(r.slot, big, "the new sequencer recovered and appends in the next segment");
    assert.equal((await p.log.read(9)).kind, "fill");
    p.seq.close();
  });

  it("the dedupe window counts the segments that hold entries; the unsealed suffix counts whole", () => {
    const meta = { sealedBelow: 20, entriesFrom: 3, entrySegments: [3, 9, 15, 17] };
    // [window, last, meta] → first segment to recover
    const cases: [number, number, LogSegmentMeta, number][] = [
      [64, 21, meta, 3], // every listed segment fits: back to where the list starts
      [4, 21, meta, 15], // the suffix [20, 21] and the two latest listed segments
      [2, 21, meta, 20], // the suffix alone fills the window
      [2, 30, meta, 20], // a suffix longer than the window is sealed whole
      [4, 21, { sealedBelow: 20 }, 18], // no list: the last 4 segments
      [4, 21, { sealedBelow: 5 }, 5], // a mark below the window: seal from the mark
      [4, 21, {}, 18], // no mark (a log older than marks): the last 4 segments
    ];
    for (const [window, last, m, want] of cases) assert.equal(firstToRecover(window, last, m), want, JSON.stringify({ window, last, m }));
  });

  it("the key table forgets the least recently noted key and moves the start of its window past it", () => {
    const t = new KeyTable(2, 100);
    t.note("a", 100);
    t.note("b", 101);
    t.note("a", 102);
    assert.equal(t.from, 100);
    t.note("c", 103);
    assert.deepEqual([t.priors("a"), t.priors("b"), t.priors("c"), t.from], [[100, 102], [], [103], 102]);
  });
});

/** One grant from a bare sequencer core driven with `client`, reporting every register step it takes. */
function grantFrom(core: SequencerCore, client: WorClient, request: GrantRequest, seen: (step: RegisterStep) => void): Promise<LogResult<Grant>> {
  return new Promise((resolve) => {
    const pump = (): void => {
      const out = core.takeOutputs();
      for (const g of out.grants) resolve(g.result);
      for (const s of out.steps) {
        seen(s.step);
        void registerStep(client, s.step).then((r) => {
          core.onResult(s.id, r);
          pump();
        });
      }
    };
    core.request(1, request, Date.now());
    pump();
  });
}
