/**
 * Typed spaces: a space's kind and segment size are write-once metadata chosen when it is created
 * (wor/core/space-meta.ts, the `createSpace` / `spaceMeta` operations). The first creator wins; a
 * verb of another kind is refused before anything is written.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { step } from "../../paxos/acceptor.ts";
import { WormLog } from "../../apps/log/node/log-client.ts";
import { LogError } from "../../apps/log/node/log-error.ts";
import { SequencerNode } from "../../apps/log/node/sequencer-node.ts";
import { SPACE_KINDS, decodeSpaceMeta, encodeSpaceMeta, spaceMetaProblem } from "../../wor/core/space-meta.ts";
import { WorError } from "../../wor/node/client.ts";
import { Net } from "./core-harness.ts";
import { MemoryCluster, bytes } from "./memory-cluster.ts";

describe("space metadata codec", () => {
  it("round-trips every valid metadata document", () => {
    fc.assert(
      fc.property(fc.constantFrom(...SPACE_KINDS), fc.integer({ min: 0, max: 20 }), fc.option(fc.stringMatching(/^[a-z0-9_-]{1,32}$/), { nil: undefined }), (kind, log2, group) => {
        const meta = { kind, segmentSize: 2 ** log2, ...(group !== undefined && group !== "main" ? { group } : {}) };
        assert.deepEqual(decodeSpaceMeta(encodeSpaceMeta(meta)), { ok: true, meta });
      }),
    );
  });
  it("a group is a name, not the main group's (docs/ARCHITECTURE.md §3.6)", () => {
    for (const group of ["", "main", "a b", "x".repeat(33), 7]) assert.match(spaceMetaProblem({ kind: "log", segmentSize: 64, group }) ?? "", /group must be/, String(group));
    assert.equal(spaceMetaProblem({ kind: "log", segmentSize: 64, group: "east-1" }), undefined);
    const bytes = new TextEncoder().encode(JSON.stringify({ v: 1, kind: "log", segmentSize: 64, group: "main" }));
    assert.equal(decodeSpaceMeta(bytes).ok, false);
    for (const stripe of [["g1"], ["g1", "g1"], ["g1", "b d"], "g1,g2", Array.from({ length: 17 }, (_, k) => `g${k}`)]) {
      assert.match(spaceMetaProblem({ kind: "log", segmentSize: 64, stripe }) ?? "", /stripe must be/, JSON.stringify(stripe));
    }
    assert.match(spaceMetaProblem({ kind: "log", segmentSize: 64, group: "g1", stripe: ["main", "g2"] }) ?? "", /not both/);
    const striped = { kind: "log" as const, segmentSize: 64, stripe: ["main", "g1"] };
    assert.deepEqual(decodeSpaceMeta(encodeSpaceMeta(striped)), { ok: true, meta: striped });
  });
  it("decodes garbage to an error, never throws", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        const d = decodeSpaceMeta(b);
        if (d.ok) assert.equal(spaceMetaProblem(d.meta), undefined);
      }),
    );
    const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
    assert.equal(decodeSpaceMeta(enc({ v: 1, kind: "queue", segmentSize: 8 })).ok, false);
    assert.equal(decodeSpaceMeta(enc({ v: 1, kind: "log", segmentSize: 12 })).ok, false);
    assert.equal(decodeSpaceMeta(enc({ v: 2, kind: "log", segmentSize: 8 })).ok, false);
    assert.equal(decodeSpaceMeta(enc([1])).ok, false);
  });
});

describe("typed spaces over an in-memory cluster", () => {
  let cluster: MemoryCluster;
  before(async () => {
    cluster = await MemoryCluster.start(3);
  });
  after(() => cluster.close());

  it("the first create wins: Created, then Exists with the first creator's kind and segment size", async () => {
    const { client } = cluster.client();
    assert.deepEqual(await client.createSpace("a", { kind: "log", segmentSize: 128 }), { _tag: "Created", meta: { kind: "log", segmentSize: 128 } });
    assert.deepEqual(await client.createSpace("a", { kind: "log", segmentSize: 128 }), { _tag: "Exists", meta: { kind: "log", segmentSize: 128 } });
    const other = cluster.client().client;
    assert.deepEqual(await other.createSpace("a"), { _tag: "Exists", meta: { kind: "log", segmentSize: 128 } });
    assert.deepEqual(await other.spaceMeta("a"), { _tag: "Typed", meta: { kind: "log", segmentSize: 128 } });
  });

  it("racing creators of different kinds all learn one winner", async () => {
    const clients = Array.from({ length: 4 }, () => cluster.client().client);
    const kinds = ["registers", "log", "registers", "log"] as const;
    const results = await Promise.all(clients.map((c, k) => c.createSpace("race", { kind: kinds[k]!, segmentSize: 64 })));
    const winners = new Set(results.map((r) => r.meta.kind));
    assert.equal(winners.size, 1, JSON.stringify(results));
    assert.equal(results.filter((r) => r._tag === "Created").length <= 1, true);
  });

  it("openSpace refuses another kind, naming both; an unknown space is named as the user named it", async () => {
    const { client } = cluster.client();
    await client.createSpace("regs");
    await assert.rejects(client.openSpace("regs", "log"), (e: unknown) => e instanceof WorError && e.code === "wrongKind" && e.message.includes("regs is a register space, not a log"));
    await assert.rejects(client.spaceMeta("nosuch"), (e: unknown) => e instanceof WorError && e.code === "unknownSpace" && e.message.includes('"nosuch"') && !e.message.includes("$meta"));
    await assert.rejects(client.check("nosuch", 0), (e: unknown) => e instanceof WorError && e.code === "unknownSpace" && !e.message.includes("$alloc"));
    await assert.rejects(client.createSpace("bad", { kind: "log", segmentSize: 1000 }), (e: unknown) => e instanceof WorError && e.code === "invalid");
  });

  it("a log verb on a register space refuses before it writes anything", async () => {
    const { client } = cluster.client();
    await client.createSpace("keep");
    const cap = await client.captureRange("keep", 5, 6);
    assert.equal(cap._tag, "Captured");
    if (cap._tag !== "Captured") return;
    assert.deepEqual(await client.write(cap.capture, 5, bytes("keep")), { _tag: "Ok" });
    const seq = new SequencerNode({ client, owner: "intruder" });
    const log = new WormLog({ client, log: "keep", tokens: seq });
    await assert.rejects(log.append(bytes("oops")), (e: unknown) => e instanceof LogError && e.failure.code === "wrongKind");
    const grant = await seq.grant("keep", { asks: [{ key: { client: "c", seq: 0 }, streams: [] }] });
    assert.equal(grant.ok, false);
    if (!grant.ok) assert.equal(grant.failure.code, "wrongKind");
    seq.close();
    // Nothing was allocated or written: only address 5 holds a value.
    const reader = cluster.client({ cacheEntriesMax: 0 }).client;
    assert.deepEqual(await reader.check("keep", 0), { _tag: "Unallocated" });
    const all = await reader.readRange("keep", 0, 64);
    assert.deepEqual(
      [...all].filter(([, r]) => r._tag !== "Unwritten").map(([i]) => i),
      [5],
    );
    await assert.rejects(WormLog.create(client, "keep"), (e: unknown) => e instanceof WorError && e.code === "wrongKind");
  });

  it("a log takes its segment size from its metadata, not from the client", async () => {
    const { client } = cluster.client({ segmentSize: 64 });
    await WormLog.create(client, "geo", { segmentSize: 16 });
    const other = cluster.client({ segmentSize: 1024 }).client;
    const seq = new SequencerNode({ client: other, owner: "geo-seq" });
    const log = new WormLog({ client: other, log: "geo", tokens: seq });
    assert.equal(await log.segmentSize(), 16);
    for (let i = 0; i < 20; i++) await log.append(bytes(`e${i}`));
    // 20 entries of a 16-slot log span two segments: both allocated, the third claimed ahead at most.
    assert.equal((await other.check("geo", 1))._tag, "Allocated");
    seq.close();
  });
});

describe("untyped spaces", () => {
  it("a space whose metadata was never chosen reads as Untyped, and trim refuses it", () => {
    const net = new Net();
    for (const a of net.acceptors) step(a, { kind: "createSpace", space: "half" });
    const c = net.client(1);
    assert.deepEqual(net.value(0, c.spaceMeta("half", net.now)), { _tag: "Untyped" });
    const op = c.trim("half", 10, net.now);
    net.run();
    const t = net.result(0, op);
    assert.equal(t?.ok, false);
    if (t && !t.ok) {
      assert.equal(t.failure.code, "wrongKind");
      assert.match(t.failure.message, /creation did not finish/);
    }
  });
});
