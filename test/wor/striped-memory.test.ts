/**
 * A space striped over two acceptor groups (wor/node/striped.ts), in memory, under contention and
 * cut links: three clients race captures of random ranges (many across segments, so across groups)
 * and writes under them, and read random ranges back, while each client's links to one acceptor of
 * either group are cut and restored. Checked over everything the operations reported: one value per
 * address, every acknowledged write is what the address holds, and a final recovering read of the
 * whole range agrees with all of it.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { WorClient } from "../../wor/node/client.ts";
import { MemoryTransport } from "../../wor/node/memory-transport.ts";
import { MemoryCluster, bytes, text } from "./memory-cluster.ts";

const SEGMENT = 8;
const SPAN = 6 * SEGMENT;

/** A small deterministic generator (the run is the same every time). */
function prng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return s % n;
  };
}

test("a striped space under racing captures across segments and cut links: one value per address, acknowledged writes hold", { timeout: 60_000 }, async () => {
  const main = await MemoryCluster.start();
  const g1 = await MemoryCluster.start();
  after(async () => {
    await main.close();
    await g1.close();
  });
  const transports: MemoryTransport[][] = [];
  const clients = [1, 2, 3].map((proposerId) => {
    const t = [new MemoryTransport(main.nodes), new MemoryTransport(g1.nodes)];
    transports.push(t);
    const client = new WorClient({ transport: t[0]!, acceptors: 3, segmentSize: SEGMENT, roundTimeoutMs: 300, resendMs: 100, proposerId, groups: { g1: { transport: t[1]!, acceptors: 3 } } });
    after(() => client.close());
    return client;
  });
  await clients[0]!.createSpace("st", { kind: "registers", segmentSize: SEGMENT, stripe: ["main", "g1"] });
  for (const c of clients) await c.openSpace("st", "registers");

  const seen = new Map<number, string>();
  const acked = new Map<number, string>();
  const problems: string[] = [];
  const saw = (index: number, value: string, how: string) => {
    const before = seen.get(index);
    if (before !== undefined && before !== value) problems.push(`st[${index}]: ${how} ${value}, but ${before} was seen before`);
    seen.set(index, value);
  };
  let captured = 0;
  let crossing = 0;
  await Promise.all(
    clients.map(async (c, k) => {
      const rand = prng(17 + k);
      for (let op = 0; op < 40; op++) {
        // Now and then a link of this client to one acceptor of either group goes down, or comes back.
        if (rand(4) === 0) {
          const t = transports[k]![rand(2)]!;
          const a = rand(3);
          if (t.isCut(a)) t.reconnect(a);
          else t.disconnect(a);
        }
        const from = rand(SPAN);
        const to = Math.min(SPAN, from + 1 + rand(2 * SEGMENT));
        if (rand(3) > 0) {
          const r = await c.captureRange("st", from, to).catch(() => undefined);
          if (r?._tag !== "Captured") continue;
          captured++;
          if (r.capture.parts) crossing++;
          for (const [i, v] of r.written) saw(i, text(v), "a capture found");
          const entries = Array.from({ length: to - from }, (_, j) => from + j)
            .filter((i) => !r.written.has(i))
            .map((index) => ({ index, value: bytes(`c${k}.${op}@${index}`) }));
          const w = await c.writeMany(r.capture, entries).catch(() => undefined);
          for (const [i, res] of w ?? []) {
            if (res._tag === "Ok") {
              saw(i, `c${k}.${op}@${i}`, "a write acknowledged");
              acked.set(i, `c${k}.${op}@${i}`);
            } else if (res._tag === "AlreadyWritten") saw(i, text(res.value), "a write found");
          }
        } else {
          const r = await c.readRange("st", from, to).catch(() => undefined);
          for (const [i, res] of r ?? []) if (res._tag === "Written") saw(i, text(res.value), "a read returned");
        }
      }
    }),
  );
  for (const t of transports.flat()) for (const a of [0, 1, 2]) if (t.isCut(a)) t.reconnect(a);
  const final = await clients[0]!.readRange("st", 0, SPAN, { recover: true });
  for (const [i, r] of final) if (r._tag === "Written") saw(i, text(r.value), "the final read returned");
  for (const [i, v] of acked) if (final.get(i)?._tag !== "Written") problems.push(`st[${i}]: the acknowledged ${v} is not in the final read`);
  assert.deepEqual(problems, []);
  assert.ok(crossing >= 10 && acked.size >= 20, `${captured} captures (${crossing} across segments), ${acked.size} addresses acknowledged: too few to mean anything`);
});
