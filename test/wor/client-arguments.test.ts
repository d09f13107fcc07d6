/**
 * Every public `WorClient` entry point checks its arguments before any round trip (issue 9 items 7
 * and 9): garbage rejects with `WorError` "invalid" (or "tooLarge" naming the limit), through the
 * returned promise — nothing throws outside it, nothing hangs, no frame is sent, and the client
 * keeps working. Before, `read("demo", -1)` and `read("demo", 1.5)` killed the process from the
 * codec, and `read("demo", NaN)` / `read("demo", 2 ** 60)` resolved to undefined.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { LIMITS } from "../../paxos/limits.ts";
import { CLIENT_DEFAULTS } from "../../wor/core/client-core.ts";
import type { Capture } from "../../wor/core/results.ts";
import { type WorClient, WorError } from "../../wor/node/client.ts";
import type { Transport } from "../../wor/node/link.ts";
import { MemoryTransport } from "../../wor/node/memory-transport.ts";
import { MemoryCluster, bytes } from "./memory-cluster.ts";

/** Settles within this long, or the call hung. */
const SETTLE_MS = 2_000;

/** A transport that counts the request frames it carries. */
function counting(inner: Transport): Transport & { requests: number } {
  const t = {
    requests: 0,
    connect(acceptor: number, events: Parameters<Transport["connect"]>[1]) {
      const link = inner.connect(acceptor, events);
      return {
        send: (frames: Parameters<typeof link.send>[0]) => {
          t.requests += frames.filter((f) => f.kind === "request").length;
          link.send(frames);
        },
        close: () => link.close(),
      };
    },
  };
  return t;
}

/** Call `f`; it must not throw, and its promise must reject within SETTLE_MS with a WorError of an allowed code. */
async function refused(f: () => Promise<unknown>, codes: readonly string[] = ["invalid", "tooLarge"]): Promise<WorError> {
  let p: Promise<unknown>;
  try {
    p = f();
  } catch (e) {
    throw new Error(`threw outside the promise: ${String(e)}`);
  }
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<"hung">((resolve) => {
    timer = setTimeout(() => resolve("hung"), SETTLE_MS);
  });
  const settled = await Promise.race([p.then((v) => ({ resolved: v }), (e: unknown) => ({ rejected: e })), hung]);
  clearTimeout(timer);
  if (settled === "hung") throw new Error(`did not settle within ${SETTLE_MS} ms`);
  if ("resolved" in settled) throw new Error(`resolved with ${String(settled.resolved)} instead of rejecting`);
  const e = settled.rejected;
  if (!(e instanceof WorError)) throw new Error(`rejected with a non-WorError: ${String(e)}`);
  if (!codes.includes(e.code)) throw new Error(`rejected with code ${e.code}: ${e.message}`);
  return e;
}

// ---- Garbage, one kind per parameter: each value is invalid wherever it is used. ----
const notNumber = fc.anything().filter((x) => typeof x !== "number");
const badIndex = fc.oneof(
  fc.constantFrom(-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 2 ** 60, Number.MAX_SAFE_INTEGER, -(2 ** 31)),
  fc.double().filter((x) => !Number.isSafeInteger(x) || x < 0),
  fc.integer({ max: -1 }),
  notNumber,
);
const badMark = fc.oneof(fc.constantFrom(-1, 0.5, Number.NaN, 2 ** 60), fc.integer({ max: -1 }), notNumber);
const badSpace = fc.oneof(
  fc.constantFrom("", "bad name!", "a".repeat(65), "$alloc/", "/s", "s/"),
  fc.anything().filter((x) => typeof x !== "string"),
);
const tooBig = new Uint8Array(LIMITS.valueBytesMax + 1);
const badValue = fc.oneof(
  fc.constant(tooBig),
  fc.string(),
  fc.array(fc.nat(255), { maxLength: 4 }),
  fc.constant(new ArrayBuffer(4)),
  fc.anything().filter((x) => !(x instanceof Uint8Array)),
);
// (`recover: undefined` or `null` means "not given": false.)
const badRecover = fc.oneof(fc.constantFrom("yes", 1, 0, "true"), fc.anything().filter((x) => typeof x !== "boolean" && x !== undefined && x !== null));

describe("WorClient entry points refuse garbage before any round trip", { timeout: 120_000 }, () => {
  let cluster: MemoryCluster;
  let client: WorClient;
  let transport: ReturnType<typeof counting>;
  let held: Capture;
  before(async () => {
    cluster = await MemoryCluster.start();
    transport = counting(new MemoryTransport(cluster.nodes));
    ({ client } = cluster.client({ transport }));
    await client.createSpace("demo");
    const c = await client.captureRange("demo", 0, 64);
    assert.equal(c._tag, "Captured");
    if (c._tag === "Captured") held = c.capture;
  });
  after(() => cluster.close());

  it("the issue's reads: -1 and 1.5 reject (no crash); NaN and 2^60 reject (no undefined)", async () => {
    for (const index of [-1, 1.5, Number.NaN, 2 ** 60]) {
      const e = await refused(() => client.read("demo", index));
      assert.match(e.message, /address/);
    }
  });

  it("over limits: tooLarge, naming the limit", async () => {
    let e = await refused(() => client.write(held, 3, tooBig), ["tooLarge"]);
    assert.match(e.message, /LIMITS\.valueBytesMax/);
    e = await refused(() => client.readRange("demo", 0, LIMITS.rangeMax + 1), ["tooLarge"]);
    assert.match(e.message, /LIMITS\.rangeMax/);
    e = await refused(() => client.captureRange("demo", 0, LIMITS.rangeMax + 1), ["tooLarge"]);
    assert.match(e.message, /LIMITS\.rangeMax/);
    const many = Array.from({ length: LIMITS.entriesMax + 1 }, (_, i) => ({ index: i, value: bytes("x") }));
    e = await refused(() => client.writeMany({ ...held, to: LIMITS.entriesMax + 1 }, many), ["tooLarge"]);
    assert.match(e.message, /LIMITS\.entriesMax/);
  });

  it("a second owner value at one address is refused (invalid), not an uncaught assertion", async () => {
    assert.equal((await client.unsafeWrite("demo", 100, bytes("a")))._tag, "Ok");
    const e = await refused(() => client.unsafeWrite("demo", 100, bytes("b")));
    assert.match(e.message, /single owner/);
  });

  it("property: any garbage argument to any entry point rejects with invalid/tooLarge, sends nothing, and the client keeps working", async () => {
    const v = bytes("v");
    const call = fc.oneof(
      badSpace.map((s) => () => client.createSpace(s as string)),
      fc.tuple(badSpace, fc.nat(100)).map(([s, i]) => () => client.read(s as string, i)),
      badIndex.map((i) => () => client.read("demo", i as number)),
      badRecover.map((r) => () => client.read("demo", 1, { recover: r as boolean })),
      fc.tuple(badIndex, fc.nat(100)).map(([f, t]) => () => client.readRange("demo", f as number, t)),
      fc.tuple(fc.nat(100), badIndex).map(([f, t]) => () => client.readRange("demo", f, t as number)),
      fc.tuple(fc.nat(1000), fc.nat(1000)).map(([a, b]) => () => client.readRange("demo", Math.max(a, b), Math.min(a, b))),
      fc.tuple(badSpace, fc.nat(100)).map(([s, i]) => () => client.capture(s as string, i)),
      badIndex.map((i) => () => client.capture("demo", i as number)),
      fc.tuple(fc.nat(100), badIndex).map(([f, t]) => () => client.captureRange("demo", f, t as number)),
      badValue.map((x) => () => client.write(held, 1, x as Uint8Array)),
      badIndex.map((i) => () => client.write(held, i as number, v)),
      fc.integer({ min: 64, max: 10_000 }).map((i) => () => client.write(held, i, v)),
      fc.anything().map((c) => () => client.write(c as Capture, 1, v)),
      fc.oneof(fc.constant({ ...held, ballot: { round: 0, proposer: 0 } }), fc.constant({ ...held, ballot: { round: 0, proposer: 7 } }), fc.constant({ ...held, from: 5, to: 5 }), fc.constant({ ...held, space: "bad name" }), fc.constant({ space: "demo" })).map(
        (c) => () => client.write(c as Capture, 1, v),
      ),
      fc.anything().filter((x) => !Array.isArray(x)).map((es) => () => client.writeMany(held, es as never)),
      fc.constantFrom([], [{ index: 1, value: v }, { index: 1, value: v }], [null], [{ index: 1 }], [{ value: v }]).map((es) => () => client.writeMany(held, es as never)),
      fc.tuple(badSpace, fc.nat(100)).map(([s, i]) => () => client.unsafeWrite(s as string, i, v)),
      badIndex.map((i) => () => client.unsafeWrite("demo", i as number, v)),
      badValue.map((x) => () => client.unsafeWrite("demo", 200, x as Uint8Array)),
      fc.tuple(badSpace, fc.nat(100)).map(([s, m]) => () => client.trim(s as string, m)),
      badMark.map((m) => () => client.trim("demo", m as number)),
      badIndex.map((s) => () => client.alloc("demo", s as number, v)),
      badValue.map((m) => () => client.alloc("demo", 1, m as Uint8Array)),
      fc.tuple(badSpace, fc.nat(100)).map(([s, g]) => () => client.check(s as string, g)),
      badIndex.map((g) => () => client.check("demo", g as number)),
      fc.tuple(badSpace, fc.nat(100)).map(([s, f]) => () => client.watch(s as string, f).next()),
      badMark.filter((f) => f !== undefined).map((f) => () => client.watch("demo", f as number).next()), // (undefined: the default start, 0)
    );
    // A commit notice of an earlier test may still linger (commitLingerMs): let it go first.
    await new Promise((r) => setTimeout(r, 4 * CLIENT_DEFAULTS.commitLingerMs));
    await fc.assert(
      fc.asyncProperty(call, async (f) => {
        const sent = transport.requests;
        await refused(f);
        assert.equal(transport.requests, sent, "a refused call sent nothing");
      }),
      { numRuns: 500 },
    );
    // The client is unharmed.
    assert.equal((await client.read("demo", 1, { recover: true }))._tag, "Unwritten");
  });
});
