/**
 * Watches of the KV (apps/kv): the changes a shard applies, kept for resuming watchers
 * (core/changes.ts) and pushed to watches of a range (KvShardStore.watch), their wire codec
 * (wire/codec-watch.ts). A watch from a past revision gets every change of its range since, in
 * revision order, then the new ones; a revision no longer kept is refused, saying from which on
 * changes are kept. The changes are kept on disk too (apps/kv/node/shard-changes.ts), so a store
 * reopened still serves them.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ClassicLevel } from "classic-level";
import fc from "fast-check";
import { Changes } from "../../../apps/kv/core/changes.ts";
import type { KvTxn } from "../../../apps/kv/core/commands.ts";
import { prefixRange } from "../../../apps/kv/core/keys.ts";
import type { KvEvent } from "../../../apps/kv/core/messages.ts";
import { encodeTxn } from "../../../apps/kv/core/records.ts";
import { decodeChanges, encodeChanges } from "../../../apps/kv/core/stored.ts";
import { DecodeError } from "../../../apps/log/core/bytes.ts";
import { KvShardStore } from "../../../apps/kv/node/shard-store.ts";
import { decodeWatchBatch, decodeWatchRequest, encodeWatchBatch, encodeWatchRequest } from "../../../apps/kv/wire/codec-watch.ts";
import * as pb from "../../../proto/gen/wormspace/v1/kv.ts";
import { bytes, text } from "./arbitraries.ts";

const put = (key: string, value: string): KvTxn => ({ compares: [], success: [{ op: "put", key, value: bytes(value) }], failure: [] });
const del = (key: string, to?: string): KvTxn => ({ compares: [], success: [{ op: "delete", key, ...(to !== undefined ? { to } : {}) }], failure: [] });
const binding = { group: "kv-w", shard: 0, shards: 1 };

async function store(t: { after: (f: () => Promise<void>) => void }, eventsKept?: number): Promise<{ s: KvShardStore; apply: (...txns: KvTxn[]) => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "worm-kv-watch-"));
  const s = await KvShardStore.open(dir, eventsKept ? { eventsKept } : {});
  t.after(async () => {
    await s.close();
    await rm(dir, { recursive: true, force: true });
  });
  let position = -1;
  const apply = async (...txns: KvTxn[]) => {
    const rows = txns.map((x) => ({ position: ++position, data: encodeTxn(x) }));
    await s.write({ rows, applied: position, epoch: 1, binding });
  };
  return { s, apply };
}

const show = (events: readonly KvEvent[]) => events.map((e) => `${e.key}@${e.revision}=${e.record ? text(e.record.value) : "-"}`);

describe("KV watches", () => {
  it("keep the latest revisions' changes whole, and say from which revision on they are kept", () => {
    const c = new Changes();
    c.reset(1, 3);
    c.add([{ key: "a", revision: 1 }, { key: "b", revision: 1 }]);
    c.add([{ key: "a", revision: 2 }]);
    assert.equal(c.keptFrom, 1);
    c.add([{ key: "c", revision: 3 }]);
    assert.equal(c.keptFrom, 2, "revision 1's two changes went together");
    assert.deepEqual(c.since(2).map((e) => e.revision), [2, 3]);
    assert.deepEqual(c.since(0).map((e) => e.revision), [2, 3]);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 60 }), fc.integer({ min: 1, max: 8 }), (sizes, max) => {
        const ch = new Changes();
        ch.reset(1, max);
        const all: KvEvent[] = [];
        for (const [i, n] of sizes.entries()) {
          const evs = Array.from({ length: n }, (_, k) => ({ key: `k${k}`, revision: i + 1 }));
          all.push(...evs);
          ch.add(evs);
        }
        const kept = ch.since(0);
        assert.deepEqual(kept, all.filter((e) => e.revision >= ch.keptFrom), "exactly the changes from keptFrom on");
        assert.ok(kept.length <= Math.max(max, 3), "at most max, or one revision's changes");
      }),
    );
  });

  it("a shard pushes each watch the changes of its range, from a past revision, then as it applies them", async (t) => {
    const { s, apply } = await store(t);
    await apply(put("a/1", "x"), put("b/1", "y"), put("a/2", "z"));
    const got: string[][] = [];
    const revisions: number[] = [];
    const stop = s.watch(prefixRange("a/"), 2, (events, revision) => {
      got.push(show(events));
      revisions.push(revision);
    }, () => assert.fail("ended"));
    assert.equal(typeof stop, "function");
    assert.deepEqual(got, [["a/2@3=z"]], "revision 2 (b/1) is not in the range; 3 is");
    await apply(put("b/2", "w"), del("a/", "a0"), put("a/3", "v"));
    assert.deepEqual(got, [["a/2@3=z"], ["a/1@5=-", "a/2@5=-", "a/3@6=v"]], "a range deleted is one revision, a change per key");
    assert.deepEqual(revisions, [3, 6]);
    // From now: nothing of the past, but at once the revision it starts after.
    const now: [string[], number][] = [];
    s.watch({ from: "" }, 0, (events, revision) => now.push([show(events), revision]), () => {});
    assert.deepEqual(now, [[[], 6]]);
    await apply(put("c", "1"));
    assert.deepEqual(now, [[[], 6], [["c@7=1"], 7]]);
    (stop as () => void)();
    await apply(put("a/4", "u"));
    assert.equal(got.length, 2, "a stopped watch gets nothing more");
    // A watch from a revision still to come gets nothing before it (at once: the revision applied now).
    const later: string[][] = [];
    s.watch({ from: "" }, s.revision + 2, (events) => later.push(show(events)), () => {});
    await apply(put("b/3", "t"), put("b/4", "s"));
    assert.deepEqual(later, [[], ["b/4@10=s"]]);
  });

  it("a revision no longer kept is refused, naming the first one kept; closing the store ends every watch", async (t) => {
    const { s, apply } = await store(t, 2);
    await apply(put("a", "1"), put("a", "2"), put("a", "3"));
    assert.match(s.watch({ from: "" }, 1, () => {}, () => {}) as string, /^revision 1 is compacted: this node keeps changes from revision 2 on/);
    assert.equal(typeof s.watch({ from: "" }, 2, () => {}, () => {}), "function");
    let ended: Error | undefined;
    s.watch({ from: "" }, 0, () => {}, (e) => {
      ended = e;
    });
    await s.close();
    assert.match(ended?.message ?? "", /is closed/);
  });

  it("cross the wire as bytes and come back equal; a batch breaking a rule is refused", () => {
    const req = { range: { key: "a/", to: "a0" }, fromRevision: 17 };
    assert.deepStrictEqual(decodeWatchRequest(encodeWatchRequest(req)), { ok: true, value: req });
    assert.deepStrictEqual(decodeWatchRequest(encodeWatchRequest({ range: { key: "k" }, fromRevision: 0 })), { ok: true, value: { range: { key: "k" }, fromRevision: 0 } });
    const record = { value: bytes("v"), createRevision: 2, modRevision: 3, version: 2 };
    const batch = { events: [{ key: "a", record, revision: 3 }, { key: "b", revision: 3 }], revision: 4 };
    assert.deepStrictEqual(decodeWatchBatch(encodeWatchBatch(batch)), { ok: true, value: batch });
    const refusal = (m: pb.KvWatchBatch) => {
      const d = decodeWatchBatch(pb.KvWatchBatch.encode(m).finish());
      return d.ok ? "accepted" : `${d.error.code}: ${d.error.message}`;
    };
    assert.match(refusal({ events: [{ key: "a", revision: 5 }], revision: 4 }), /an event at revision 5 .* in a batch up to 4/);
    assert.match(refusal({ events: [{ key: "a", revision: 3 }, { key: "b", revision: 2 }], revision: 4 }), /an event at revision 2 \(after 3/);
    assert.match(refusal({ events: [{ key: "a", record: { ...record, modRevision: 2 }, revision: 3 }], revision: 4 }), /a record of modRevision 2/);
    assert.match(refusal({ events: [{ key: "", revision: 1 }], revision: 1 }), /non-empty/);
    const badReq = (m: pb.KvWatchRequest) => {
      const d = decodeWatchRequest(pb.KvWatchRequest.encode(m).finish());
      return d.ok ? "accepted" : d.error.message;
    };
    assert.match(badReq({ fromRevision: 0 }), /no range/);
    assert.match(badReq({ range: { key: "b", to: "a" }, fromRevision: 0 }), /must sort before/);
    assert.match(badReq({ range: { key: "a", limit: 3 }, fromRevision: 0 }), /takes no limit/);
  });

  it("are kept on disk: a store reopened serves a watch from before it closed, up to eventsKept; blobs no longer kept are deleted; a gap stops what is served", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "worm-kv-watch-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    let position = -1;
    const open = async (eventsKept?: number) => {
      const s = await KvShardStore.open(dir, eventsKept ? { eventsKept } : {});
      const apply = async (...txns: KvTxn[]) => {
        const rows = txns.map((x) => ({ position: ++position, data: encodeTxn(x) }));
        await s.write({ rows, applied: position, epoch: 1, binding });
      };
      return { s, apply };
    };
    const from = (s: KvShardStore, revision: number): string[] | string => {
      const got: string[] = [];
      const stop = s.watch({ from: "" }, revision, (events) => got.push(...show(events)), () => {});
      if (typeof stop === "string") return stop;
      stop();
      return got;
    };
    const changeKeys = async () => {
      const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: "utf8", valueEncoding: "view" });
      const keys = await db.keys({ gte: "e:", lt: "e;" }).all();
      await db.close();
      return keys;
    };

    let { s, apply } = await open();
    await apply(put("a", "1"), put("b", "1"));
    await apply(del("a"));
    // Staged, not yet written: published at once, on disk with the next write.
    s.stage([{ position: position + 1, data: encodeTxn(put("c", "1")) }]);
    await apply(put("c", "1"), put("d", "1"));
    await s.close();
    ({ s, apply } = await open());
    assert.deepEqual(from(s, 1), ["a@1=1", "b@2=1", "a@3=-", "c@4=1", "d@5=1"], "every change since revision 1, after the restart");
    await apply(put("e", "1"));
    assert.deepEqual(from(s, 5), ["d@5=1", "e@6=1"]);
    await s.close();
    assert.equal((await changeKeys()).length, 4, "a blob per write");

    // Fewer kept: the oldest revisions dropped whole; blobs wholly below them deleted by the next write.
    ({ s, apply } = await open(2));
    assert.match(from(s, 1) as string, /revision 1 is compacted: this node keeps changes from revision 5 on/);
    assert.deepEqual(from(s, 5), ["d@5=1", "e@6=1"]);
    await apply(put("f", "1"));
    assert.deepEqual(from(s, 6), ["e@6=1", "f@7=1"]);
    await s.close();
    assert.deepEqual(await changeKeys(), ["e:0000000000000006", "e:0000000000000007"]);

    // A gap (a version that kept no changes wrote revision 8 and 9): nothing before it is served.
    ({ s, apply } = await open());
    await apply(put("g", "1"));
    await s.close();
    const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: "utf8", valueEncoding: "view" });
    await db.del("e:0000000000000007");
    await db.close();
    ({ s, apply } = await open());
    assert.match(from(s, 6) as string, /keeps changes from revision 8 on/);
    assert.deepEqual(from(s, 8), ["g@8=1"]);
    await s.close();
  });

  it("a write's changes cross to disk and back equal; malformed bytes are refused, never thrown", () => {
    const record = (v: string, rev: number) => ({ value: bytes(v), createRevision: 1, modRevision: rev, version: rev });
    const events: KvEvent[] = [{ key: "a", revision: 3, record: record("x", 3) }, { key: "b", revision: 3 }, { key: "é", revision: 4, record: record("", 4) }];
    assert.deepStrictEqual(decodeChanges(encodeChanges(events)), events);
    const refused = (b: Uint8Array) => {
      const d = decodeChanges(b);
      return d instanceof DecodeError ? d.message : "accepted";
    };
    assert.match(refused(encodeChanges([events[2]!, events[0]!])), /revision 3 after one at 4/);
    assert.match(refused(encodeChanges([{ key: "a", revision: 5, record: record("x", 4) }])), /modRevision 4/);
    assert.match(refused(new Uint8Array([0x01, 0])), /not a KV shard's changes/);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (b) => Array.isArray(decodeChanges(b)) || decodeChanges(b) instanceof DecodeError));
  });
});
