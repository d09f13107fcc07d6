/**
 * The session table (apps/smr/core/sessions.ts) against the Map it replaced (a Map in last-active
 * order whose first entry was evicted past `sessionsMax`): its order is part of the snapshot's bytes,
 * which checkpoints carry digests of, so any sequence of records and restores must give the same
 * evictions, the same answers and byte for byte the same encoding. And eviction past the limit goes
 * through `LruMap.shift` (O(1) amortized, test/wor/lru-map.test.ts), once per forgotten client.
 */
import assert from "node:assert/strict";
import { describe, it, mock } from "node:test";
import fc from "fast-check";
import { ByteWriter, readAll } from "../../../apps/log/core/bytes.ts";
import { type SessionLimits, Sessions } from "../../../apps/smr/core/sessions.ts";
import { LruMap } from "../../../wor/core/lru-map.ts";

interface ModelSession {
  floor: number;
  readonly results: Map<number, Uint8Array>;
}

/** The table as it was before LruMap: a Map, deleted and set again on each record, its first entry evicted. */
class MapSessions {
  readonly clients = new Map<string, ModelSession>();
  constructor(private readonly limits: SessionLimits) {}
  find(client: string, seq: number): Uint8Array | "expired" | undefined {
    const s = this.clients.get(client);
    if (!s) return undefined;
    return seq < s.floor ? "expired" : s.results.get(seq);
  }
  record(client: string, seq: number, ackedBelow: number, result: Uint8Array): void {
    const s = this.clients.get(client) ?? { floor: 0, results: new Map() };
    this.clients.delete(client);
    this.clients.set(client, s);
    s.results.set(seq, result);
    this.raise(s, ackedBelow);
    while (s.results.size > this.limits.resultsPerClientMax) this.raise(s, Math.min(...s.results.keys()) + 1);
    if (this.clients.size > this.limits.sessionsMax) this.clients.delete(this.clients.keys().next().value!);
  }
  private raise(s: ModelSession, floor: number): void {
    if (floor <= s.floor) return;
    s.floor = floor;
    for (const seq of s.results.keys()) if (seq < floor) s.results.delete(seq);
  }
  encode(): Uint8Array[] {
    const chunks: Uint8Array[] = [];
    let w = new ByteWriter();
    for (const [client, s] of this.clients) {
      w.str(client);
      w.varint(s.floor);
      w.varint(s.results.size);
      for (const [seq, r] of s.results) {
        w.varint(seq);
        w.blob(r);
      }
      if (w.length >= 256 << 10) {
        chunks.push(w.done());
        w = new ByteWriter();
      }
    }
    if (w.length > 0) chunks.push(w.done());
    return chunks;
  }
  decodeChunk(bytes: Uint8Array): void {
    readAll(bytes, (r) => {
      while (!r.done) {
        const client = r.str("client id", 1 << 10);
        const s: ModelSession = { floor: r.varint(), results: new Map() };
        for (let n = r.varint(); n > 0; n--) s.results.set(r.varint(), r.blob("result", 1 << 20));
        this.clients.set(client, s);
      }
    });
  }
}

type Op =
  | { readonly kind: "record"; readonly client: number; readonly seq: number; readonly acked: number; readonly result: Uint8Array }
  | { readonly kind: "restore" };

const CLIENTS = 12;
const SEQS = 24;

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant("record" as const),
      client: fc.nat({ max: CLIENTS - 1 }),
      seq: fc.nat({ max: SEQS - 1 }),
      acked: fc.nat({ max: SEQS - 1 }),
      result: fc.uint8Array({ maxLength: 4 }),
    }),
    weight: 30,
  },
  { arbitrary: fc.constant({ kind: "restore" as const }), weight: 1 },
);

describe("the SMR's session table", () => {
  it("evicts, answers and encodes as the Map-ordered table did, across restores", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 4 }), fc.array(op, { maxLength: 1_500, size: "max" }), (sessionsMax, resultsPerClientMax, ops) => {
        const limits = { sessionsMax, resultsPerClientMax };
        let t = new Sessions(limits);
        let m = new MapSessions(limits);
        for (const o of ops) {
          if (o.kind === "record") {
            const client = `c${o.client}`;
            // The state applies a key only when it has no result: a record of a key already answered never happens.
            if (t.find(client, o.seq) !== undefined) continue;
            t.record(client, o.seq, Math.min(o.acked, o.seq), o.result);
            m.record(client, o.seq, Math.min(o.acked, o.seq), o.result);
          } else {
            const [tc, mc] = [t.encode(), m.encode()];
            t = new Sessions(limits);
            m = new MapSessions(limits);
            for (const c of tc) assert.equal(t.decodeChunk(c), undefined);
            for (const c of mc) m.decodeChunk(c);
          }
          assert.equal(t.size, m.clients.size);
          assert.deepEqual(t.encode(), m.encode());
        }
        for (let c = 0; c < CLIENTS; c++) for (let seq = 0; seq < SEQS; seq++) assert.deepEqual(t.find(`c${c}`, seq), m.find(`c${c}`, seq));
      }),
      { numRuns: 300 },
    );
  });

  it("forgets one client per record past sessionsMax through LruMap.shift, 200,000 times over, as the Map-ordered table did", { timeout: 120_000 }, () => {
    const shift = mock.method(LruMap.prototype, "shift");
    try {
      const limits = { sessionsMax: 1_000, resultsPerClientMax: 4 };
      const t = new Sessions(limits);
      const m = new MapSessions(limits);
      const result = new Uint8Array([1]);
      const records = 200_000 + limits.sessionsMax;
      for (let i = 0; i < records; i++) {
        t.record(`c${i}`, 0, 0, result);
        m.record(`c${i}`, 0, 0, result);
        // A live client active again: in the Map, a hole left behind (the holes slowed its eviction).
        if (i < limits.sessionsMax) continue;
        t.record(`c${i - 400}`, i, i, result);
        m.record(`c${i - 400}`, i, i, result);
      }
      assert.equal(t.size, limits.sessionsMax);
      assert.equal(shift.mock.callCount(), records - limits.sessionsMax, "one shift per client forgotten");
      assert.equal(t.find("c0", 0), undefined, "forgotten");
      assert.deepEqual(t.find(`c${records - 1}`, 0), result);
      assert.deepEqual(t.encode(), m.encode());
    } finally {
      shift.mock.restore();
    }
  });

  it("refuses a snapshot that names a client twice", () => {
    const w = new ByteWriter();
    for (let i = 0; i < 2; i++) {
      w.str("c");
      w.varint(0);
      w.varint(0);
    }
    const t = new Sessions({ sessionsMax: 8, resultsPerClientMax: 4 });
    assert.match(t.decodeChunk(w.done()) ?? "", /client "c" twice/);
  });
});
