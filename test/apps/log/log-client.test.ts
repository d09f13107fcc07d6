/**
 * The shared log over real acceptor nodes and real client shells in memory: appends through an
 * embedded sequencer, reads, tail, streams, subscribe, holes, sequencer failover and trim; an
 * entry over the slot limit refused before any round trip; an operation bounded by `timeoutMs`.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { LogObserver } from "../../../apps/log/core/invariants.ts";
import { LogError, type WormLog as WormLogT, WormLog } from "../../../apps/log/node/log-client.ts";
import type { TokenSource } from "../../../apps/log/node/token-source.ts";
import { LIMITS } from "../../../paxos/limits.ts";
import { SequencerNode } from "../../../apps/log/node/sequencer-node.ts";
import { MemoryCluster, bytes, text } from "../../wor/memory-cluster.ts";

const SEGMENT = 64;

describe("WormLog over an in-memory cluster", () => {
  let cluster: MemoryCluster;
  before(async () => {
    cluster = await MemoryCluster.start(3);
  });
  after(() => cluster.close());

  const open = (log: string, owner: string, extra: Partial<ConstructorParameters<typeof WormLog>[0]> = {}): { log: WormLogT; seq: SequencerNode } => {
    const { client } = cluster.client({ segmentSize: SEGMENT });
    const seq = new SequencerNode({ client, owner, config: { retryMs: 5 } });
    return { log: new WormLog({ client, log, tokens: seq, read: { holeTimeoutMs: 50, pollMs: 5 }, ...extra }), seq };
  };

  it("appends get consecutive slots, read back, and tail follows", async () => {
    const { client } = cluster.client({ segmentSize: SEGMENT });
    await WormLog.create(client, "l1");
    const { log, seq } = open("l1", "s1");
    const slots = await Promise.all(Array.from({ length: 100 }, (_, i) => log.append(bytes(`e${i}`))));
    assert.deepEqual(
      slots.map((s) => s.slot),
      Array.from({ length: 100 }, (_, i) => i),
    );
    const got = await log.readRange(0, 100);
    assert.deepEqual(
      got.map((s) => (s.kind === "entry" ? text(s.entry.payload) : s.kind)),
      Array.from({ length: 100 }, (_, i) => `e${i}`),
    );
    assert.equal(await log.tail(), 100);
    const one = await log.read(7);
    assert.equal(one.kind === "entry" && text(one.entry.payload), "e7");
    assert.equal((await log.read(100)).kind, "unwritten");
    seq.close();
  });

  it("a retried key is stored once; a new sequencer seals the old one's segments and continues", async () => {
    const { client } = cluster.client({ segmentSize: SEGMENT });
    await WormLog.create(client, "l2");
    const a = open("l2", "s-a");
    const first = await a.log.append(bytes("x"), { key: { client: "c", seq: 1 } });
    const again = await a.log.append(bytes("x"), { key: { client: "c", seq: 1 } });
    assert.equal(again.slot, first.slot);
    assert.equal(again.duplicate, true);
    await a.log.append(bytes("y"), { streams: ["t"] });
    a.seq.close();
    // The new sequencer recovers: the old one's segments are sealed, tokens come from a fresh one.
    const b = open("l2", "s-b");
    const z = await b.log.append(bytes("z"), { streams: ["t"] });
    assert.ok(z.slot >= 2 * SEGMENT, `new tokens come after the sealed segments (got ${z.slot})`);
    const again2 = await b.log.append(bytes("x"), { key: { client: "c", seq: 1 } });
    assert.deepEqual(again2, { slot: first.slot, duplicate: true }, "the key table is rebuilt from the sealed segments");
    const all = await b.log.readRange(0, await b.log.tail());
    const obs = new LogObserver();
    for (const s of all) assert.deepEqual(obs.observe(s), []);
    assert.deepEqual(
      all.filter((s) => s.kind === "entry").map((s) => (s.kind === "entry" ? text(s.entry.payload) : "")),
      ["x", "y", "z"],
    );
    const stream = await b.log.readStream("t");
    assert.deepEqual(
      stream.map((e) => text(e.entry.payload)),
      ["y", "z"],
    );
    b.seq.close();
  });

  it("streams are read by backpointers, in log order", async () => {
    const { client } = cluster.client({ segmentSize: SEGMENT });
    await WormLog.create(client, "l3");
    const { log, seq } = open("l3", "s3");
    for (let i = 0; i < 40; i++) {
      const streams = [i % 2 === 0 ? "even" : "odd", ...(i % 5 === 0 ? ["five"] : [])];
      await log.append(bytes(`${i}`), { streams });
    }
    const five = await log.readStream("five");
    assert.deepEqual(
      five.map((e) => text(e.entry.payload)),
      ["0", "5", "10", "15", "20", "25", "30", "35"],
    );
    const odd = await log.readStream("odd", 10, 20);
    assert.deepEqual(
      odd.map((e) => e.slot),
      [11, 13, 15, 17, 19],
    );
    assert.deepEqual(await log.readStream("none"), []);
    seq.close();
  });

  it("subscribe delivers in slot order, follows new appends, and fills a hole", async () => {
    const { client } = cluster.client({ segmentSize: SEGMENT });
    await WormLog.create(client, "l4");
    const { log, seq } = open("l4", "s4");
    await log.append(bytes("a"));
    // A hole: a token taken and never written (an appender that crashed after getting it).
    const g = await seq.grant("l4", { asks: [{ key: { client: "dead", seq: 0 }, streams: [] }] });
    assert.ok(g.ok);
    const sub = log.subscribe(0);
    const later = log.append(bytes("c"));
    const seen: string[] = [];
    for await (const s of sub) {
      if (s.kind === "entry") seen.push(`${s.slot}:${text(s.entry.payload)}`);
      if (seen.length === 2) break;
    }
    assert.deepEqual(seen, ["0:a", `2:c`]);
    await later;
    assert.equal((await log.read(1)).kind, "fill", "the reader filled the hole");
    seq.close();
  });

  it("subscribe fills a hole at the log's end once a tail() here saw past it, and not before", async () => {
    const { client } = cluster.client({ segmentSize: SEGMENT });
    await WormLog.create(client, "l4e");
    const { log, seq } = open("l4e", "s4e");
    await log.append(bytes("a"));
    // The last token issued is never written, and nothing is appended after it.
    const g = await seq.grant("l4e", { asks: [{ key: { client: "dead", seq: 0 }, streams: [] }] });
    assert.ok(g.ok);
    const stop = new AbortController();
    const seen: string[] = [];
    const reading = (async () => {
      for await (const s of log.subscribe(0, { signal: stop.signal, fills: true })) seen.push(`${s.slot}:${s.kind}`);
    })();
    // Well past the hole timeout (50 ms) and the idle look (250 ms): nobody waits for slot 1.
    await new Promise((r) => setTimeout(r, 400));
    assert.deepEqual(seen, ["0:entry"]);
    assert.equal((await log.read(1)).kind, "unwritten", "no tail learned: the last slot is left to its appender");
    // A reader here learns the tail (2) and waits for the slots below it: the subscription fills 1.
    assert.equal(await log.tail(), 2);
    const deadline = Date.now() + 5_000;
    while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    stop.abort();
    await reading;
    assert.deepEqual(seen, ["0:entry", "1:fill"]);
    assert.equal((await log.read(1)).kind, "fill");
    seq.close();
  });

  it("trim makes reads below answer trimmed", async () => {
    const { client } = cluster.client({ segmentSize: SEGMENT });
    await WormLog.create(client, "l5");
    const { log, seq } = open("l5", "s5");
    for (let i = 0; i < 10; i++) await log.append(bytes(`${i}`));
    assert.equal(await log.trim(5), 5);
    assert.equal((await log.read(3)).kind, "trimmed");
    const rest = await log.readRange(3, 10);
    assert.deepEqual(
      rest.map((s) => s.kind),
      ["trimmed", "trimmed", "entry", "entry", "entry", "entry", "entry"],
    );
    seq.close();
  });

  it("an entry over the slot limit is refused before any round trip, naming the limit", async () => {
    const { client } = cluster.client({ segmentSize: SEGMENT });
    let asked = 0;
    const tokens: TokenSource = {
      grant: () => {
        asked++;
        return new Promise(() => {});
      },
      close: () => {},
    };
    const log = new WormLog({ client, log: "nolog", tokens });
    const err = await log.append(new Uint8Array(LIMITS.valueBytesMax), { streams: ["s"] }).catch((e: unknown) => e);
    assert.ok(err instanceof LogError && err.failure.code === "tooLarge", String(err));
    assert.match(err.message, new RegExp(`exceeds the ${LIMITS.valueBytesMax} bytes a log slot holds`));
    assert.equal(asked, 0, "no token was asked for");
  });

  it("with timeoutMs, an operation whose sequencer never answers gives up in time, saying what it waited for", async () => {
    const { client } = cluster.client({ segmentSize: SEGMENT });
    await WormLog.create(client, "l6");
    const tokens: TokenSource = { grant: () => new Promise(() => {}), close: () => {} };
    const log = new WormLog({ client, log: "l6", tokens, timeoutMs: 150 });
    const started = performance.now();
    const err = await log.append(bytes("x")).catch((e: unknown) => e);
    assert.ok(err instanceof LogError && err.failure.code === "timeout", String(err));
    assert.match(err.message, /append to l6 did not finish within 150 ms \(waiting for tokens from the sequencer\)/);
    assert.ok(performance.now() - started < 1_000);
    const tail = await log.tail().catch((e: unknown) => e);
    assert.ok(tail instanceof LogError && /tail of l6 did not finish within 150 ms/.test(tail.message), String(tail));
  });
});
