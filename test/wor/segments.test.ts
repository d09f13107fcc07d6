/**
 * Segment ownership (wor/core/segments.ts, segment-meta.ts), run by the node driver over real
 * acceptor nodes in memory: the last allocated segment in O(log n) checks, claims in an owner's
 * name, a new owner sealing exactly the unsealed suffix its predecessor's mark names (finishing a
 * half-written value, filling the rest, fencing the old owner), and seals in bounded chunks.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CLIENT_DEFAULTS } from "../../wor/core/client-core.ts";
import type { Capture } from "../../wor/core/results.ts";
import { type ClaimMeta, isSegment, jsonSegmentMeta } from "../../wor/core/segment-meta.ts";
import { type SegmentConfig, claim, lastAllocated, lastSegment, seal, unsealedFrom } from "../../wor/core/segments.ts";
import type { RegisterStep, StepGen } from "../../wor/core/steps.ts";
import type { WorClient } from "../../wor/node/client.ts";
import { drive } from "../../wor/node/driver.ts";
import { MemoryCluster, bytes, text } from "./memory-cluster.ts";

const SEGMENT = 64;
const FILL = bytes("·");

/** An app's metadata: an epoch number beside the owner and the mark. */
const META = jsonSegmentMeta<{ epoch?: number }>({
  encode: ({ epoch }) => (epoch !== undefined ? { epoch } : {}),
  decode: ({ epoch }) => (isSegment(epoch) ? { epoch } : {}),
});

/** `gen`, with every step it yields shown to `seen` first. */
function* observed<T>(gen: StepGen<RegisterStep, T>, seen: (step: RegisterStep) => void): StepGen<RegisterStep, T> {
  let r = gen.next();
  while (!r.done) {
    seen(r.value);
    r = gen.next(yield r.value);
  }
  return r.value;
}

/** Run `gen` to its end; its result must be ok. */
async function ok<T>(client: WorClient, gen: StepGen<RegisterStep, { ok: true; value: T } | { ok: false; failure: { message: string } }>): Promise<T> {
  const r = await drive(gen, client);
  assert.ok(r.ok, r.ok ? "" : r.failure.message);
  return r.value;
}

describe("segment ownership", () => {
  let cluster: MemoryCluster;
  let client: WorClient;
  const cfg = (space: string, over: Partial<SegmentConfig> = {}): SegmentConfig => ({ space, segmentSize: SEGMENT, retryMs: 5, preemptRetriesMax: 8, sealChunkMax: SEGMENT, ...over });
  before(async () => {
    cluster = await MemoryCluster.start();
    client = cluster.client({ segmentSize: SEGMENT }).client;
  });
  after(() => cluster.close());

  it("metadata: the owner, the mark and the app's fields round-trip; unreadable bytes decode to nothing known", () => {
    const m: ClaimMeta<{ epoch?: number }> = { owner: "leader-1", sealedBelow: 4, epoch: 7 };
    assert.deepEqual(META.decode(META.encode(m)), m);
    assert.deepEqual(JSON.parse(text(META.encode(m))), { owner: "leader-1", epoch: 7, sealedBelow: 4 });
    for (const junk of ["", "nope", "[1]", "null", '{"owner": 3, "sealedBelow": -1, "epoch": "x"}']) assert.deepEqual(META.decode(bytes(junk)), {}, junk);
  });

  it("the last allocated segment is found in O(log n) checks, with its metadata", async () => {
    await client.createSpace("probe");
    assert.deepEqual(await ok(client, lastSegment("probe", META)), { segment: -1, meta: {} });
    for (let s = 0; s <= 40; s++) await client.alloc("probe", s, META.encode({ owner: `o${s}`, sealedBelow: s, epoch: s }));
    let checks = 0;
    const found = await ok(
      client,
      observed(lastSegment("probe", META), (s) => {
        if (s.kind === "check") checks++;
      }),
    );
    assert.deepEqual(found, { segment: 40, meta: { owner: "o40", sealedBelow: 40, epoch: 40 } });
    // 0, 1, 2, 4, ..., 64 (8 probes), then a binary search over (32, 64): 5 more.
    assert.ok(checks <= 2 * Math.ceil(Math.log2(41)) + 2, `${checks} checks`);
    assert.equal(await ok(client, lastAllocated("probe")), 40);
  });

  it("a claim allocates the segment in the owner's name and captures it; a rival's claim of it is refused", async () => {
    await client.createSpace("claims");
    const c = cfg("claims");
    const mine = await ok(client, claim(c, META, 0, { owner: "a", sealedBelow: 0, epoch: 1 }));
    assert.equal(mine.kind, "claimed");
    if (mine.kind !== "claimed") return;
    assert.deepEqual([mine.capture.from, mine.capture.to], [0, SEGMENT]);
    // The same owner claiming again (its earlier attempt landed) gets it again.
    assert.equal((await ok(client, claim(c, META, 0, { owner: "a", sealedBelow: 0, epoch: 1 }))).kind, "claimed");
    const rival = await ok(client, claim(c, META, 0, { owner: "b", sealedBelow: 0 }));
    assert.deepEqual(rival, { kind: "rival", why: "segment 0 belongs to a" });
    // A segment that holds values already is not a fresh one.
    const next = await ok(client, claim(c, META, 1, { owner: "a", sealedBelow: 0 }));
    assert.ok(next.kind === "claimed");
    await client.writeMany(next.capture, [{ index: SEGMENT + 3, value: bytes("x") }]);
    const again = await ok(client, claim(c, META, 1, { owner: "a", sealedBelow: 0 }));
    assert.deepEqual(again, { kind: "rival", why: "segment 1 already holds 1 values" });
  });

  it("a new owner seals exactly the unsealed suffix its predecessor's mark names: finishes a half-written value, fills the rest, fences the old owner", async () => {
    await client.createSpace("handover");
    const c = cfg("handover");
    // Owner a claims segments 0..3, and had sealed 0 and 1 when it claimed 3 (mark 2).
    const captures: Capture[] = [];
    for (let s = 0; s < 4; s++) {
      const r = await ok(client, claim(c, META, s, { owner: "a", sealedBelow: Math.min(s, 2), epoch: 1 }));
      assert.ok(r.kind === "claimed");
      captures.push(r.capture);
    }
    await ok(client, seal(c, 0, 1, FILL, () => {}));
    await client.writeMany(captures[2]!, [{ index: 2 * SEGMENT + 1, value: bytes("landed") }]);
    // A write that reached one acceptor only (its writer died): not chosen, maybe later.
    const { client: lonely, transport } = cluster.client({ segmentSize: SEGMENT, roundTimeoutMs: 100 });
    await lonely.spaceMeta("handover"); // what the space is, read while it reaches a quorum
    transport.disconnect(1);
    transport.disconnect(2);
    await assert.rejects(lonely.writeMany(captures[3]!, [{ index: 3 * SEGMENT + 5, value: bytes("half") }]));

    // Owner b (which cannot reach acceptor 1, so its quorums hold the half-written value): the
    // mark says seal from segment 2.
    const { client: b, transport: bt } = cluster.client({ segmentSize: SEGMENT });
    bt.disconnect(1);
    const found = await ok(b, lastSegment("handover", META));
    assert.deepEqual(found, { segment: 3, meta: { owner: "a", sealedBelow: 2, epoch: 1 } });
    const from = unsealedFrom(found, 0);
    assert.equal(from, 2);
    const touched = new Set<number>();
    const seen: [number, string][] = [];
    await ok(
      b,
      observed(
        seal(c, from, found.segment, FILL, (slot, v) => seen.push([slot, text(v)])),
        (s) => {
          if (s.kind === "read" || s.kind === "capture") touched.add(Math.floor(s.from / SEGMENT));
        },
      ),
    );
    assert.deepEqual([...touched].sort(), [2, 3], "segments below the mark are not touched");
    assert.deepEqual(
      seen.map(([slot]) => slot),
      Array.from({ length: 2 * SEGMENT }, (_, k) => 2 * SEGMENT + k),
      "every slot of the suffix, in order",
    );
    const at = new Map(seen);
    assert.equal(at.get(2 * SEGMENT + 1), "landed");
    assert.equal(at.get(3 * SEGMENT + 5), "half", "the half-written value was finished, not filled over");
    assert.equal(at.get(3 * SEGMENT + 6), "·");
    // The old owner's capture no longer writes anything: AlreadyWritten once b's commit notices
    // reached the acceptors, Preempted (b's higher ballot) while they linger (commitLingerMs).
    const late = await client.writeMany(captures[3]!, [{ index: 3 * SEGMENT + 9, value: bytes("late") }]);
    assert.ok(["AlreadyWritten", "Preempted"].includes(late.get(3 * SEGMENT + 9)!._tag), late.get(3 * SEGMENT + 9)!._tag);
    await new Promise((r) => setTimeout(r, 4 * CLIENT_DEFAULTS.commitLingerMs));
    const later = await client.writeMany(captures[3]!, [{ index: 3 * SEGMENT + 9, value: bytes("late") }]);
    assert.equal(later.get(3 * SEGMENT + 9)!._tag, "AlreadyWritten");
    // The new owner claims past the suffix, recording its own mark.
    const next = await ok(b, claim(c, META, 4, { owner: "b", sealedBelow: 4, epoch: 2 }));
    assert.equal(next.kind, "claimed");
    assert.deepEqual((await ok(b, lastSegment("handover", META))).meta, { owner: "b", sealedBelow: 4, epoch: 2 });
  });

  it("a seal works in chunks of sealChunkMax slots; a chunk already sealed costs one read and no capture", async () => {
    await client.createSpace("chunks");
    const c = cfg("chunks", { sealChunkMax: 16 });
    const r = await ok(client, claim(c, META, 0, { owner: "a", sealedBelow: 0 }));
    assert.ok(r.kind === "claimed");
    // Slots 0..15 (the first chunk) are all written; the other chunks have one value each.
    await client.writeMany(r.capture, [...Array.from({ length: 16 }, (_, i) => ({ index: i, value: bytes(`e${i}`) })), { index: 40, value: bytes("e40") }]);
    const rounds: string[] = [];
    let visited = 0;
    await ok(
      client,
      observed(
        seal(c, 0, 0, FILL, () => visited++),
        (s) => {
          if (s.kind === "read" || s.kind === "capture") rounds.push(`${s.kind} ${s.from}-${s.to}`);
          if (s.kind === "write") assert.ok(s.entries.length <= 16);
        },
      ),
    );
    assert.equal(visited, SEGMENT);
    assert.deepEqual(rounds, ["read 0-16", "read 16-32", "capture 16-32", "read 32-48", "capture 32-48", "read 48-64", "capture 48-64"]);
    // Sealed now: a second seal only reads.
    rounds.length = 0;
    await ok(
      client,
      observed(seal(c, 0, 0, FILL, () => {}), (s) => rounds.push(s.kind)),
    );
    assert.deepEqual(rounds, ["read", "read", "read", "read"]);
  });
});
