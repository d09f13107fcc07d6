/**
 * The remote sequencer over real gRPC (apps/log/node/sequencer-server.ts, remote-tokens.ts) in front
 * of an in-memory acceptor cluster: batched grants, appends through it, failover to the next
 * address, deadlines, unreachable sequencers, bad requests, the cluster token, and a standby that
 * redirects to the active sequencer until a client's takeover hint makes it take over.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { WormLog } from "../../../apps/log/node/log-client.ts";
import { RemoteTokenSource } from "../../../apps/log/node/remote-tokens.ts";
import { SequencerNode } from "../../../apps/log/node/sequencer-node.ts";
import { type SequencerServer, startSequencerServer } from "../../../apps/log/node/sequencer-server.ts";
import { decodeGrantRequests, encodeGrantReplies } from "../../../apps/log/wire/codec.ts";
import { type SequencerHandlers, SequencerService } from "../../../apps/log/wire/service.ts";
import { bindServer, newServer, shutdownServer } from "../../../wor/node/grpc-serving.ts";
import { MemoryCluster, bytes, text } from "../../wor/memory-cluster.ts";

const LOG = "orders";
const ask = (seq: number, streams: string[] = []) => ({ key: { client: "t", seq }, streams });

interface Running {
  readonly sequencer: SequencerNode;
  readonly server: SequencerServer;
  readonly address: string;
}

describe("sequencer server", () => {
  let cluster: MemoryCluster;
  const running: Running[] = [];
  const sources: RemoteTokenSource[] = [];

  async function sequencer(owner: string, token?: string, o: { advertise?: boolean } = {}): Promise<Running> {
    const { client } = cluster.client({ roundTimeoutMs: 1_000 });
    const node = new SequencerNode({ client, owner });
    const server = await startSequencerServer({ sequencer: node, port: 0, ...(token ? { token } : {}) });
    const r = { sequencer: node, server, address: `127.0.0.1:${server.port}` };
    if (o.advertise) node.advertise(r.address);
    running.push(r);
    return r;
  }

  function source(addresses: string[], o: { deadlineMs?: number; token?: string } = {}): RemoteTokenSource {
    const s = new RemoteTokenSource({ addresses, ...o });
    sources.push(s);
    return s;
  }

  before(async () => {
    cluster = await MemoryCluster.start();
    await WormLog.create(cluster.client().client, LOG);
  });

  after(async () => {
    for (const s of sources) s.close();
    for (const r of running) {
      await r.server.close();
      r.sequencer.close();
    }
    await cluster.close();
  });

  it("batches the grants of one tick into one envelope and issues distinct, consecutive slots", async () => {
    const a = await sequencer("seq-batch");
    const tokens = source([a.address]);
    const first = await tokens.grant(LOG, { asks: [ask(0)] });
    assert.ok(first.ok, JSON.stringify(first));
    const before = tokens.counters.envelopes;
    const results = await Promise.all(Array.from({ length: 20 }, (_, k) => tokens.grant(LOG, { asks: [ask(k + 1, ["s"])], streams: ["s"] })));
    assert.equal(tokens.counters.envelopes - before, 1, "one envelope for the whole tick");
    const slots = results.map((r) => {
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.value.tokens.length, 1);
      assert.equal(r.value.tokens[0]!.capture.space, LOG);
      return r.value.tokens[0]!.slot;
    });
    assert.equal(new Set(slots).size, 20);
    const sorted = [...slots].sort((x, y) => x - y);
    assert.equal(sorted[19]! - sorted[0]!, 19, "consecutive slots");
    const status = await tokens.status();
    const row = status.logs.find((l) => l.log === LOG);
    assert.equal(row?.phase, "ready");
    assert.ok((row?.next ?? 0) > sorted[19]!);
  });

  it("serves WormLog appends, which read back at their slots", async () => {
    const a = await sequencer("seq-append");
    const tokens = source([a.address]);
    const log = new WormLog({ client: cluster.client().client, log: LOG, tokens });
    const appended = await Promise.all(["x", "y", "z"].map((p) => log.append(bytes(p), { streams: ["letters"] })));
    for (const [k, p] of ["x", "y", "z"].entries()) {
      const r = await log.read(appended[k]!.slot);
      assert.ok(r.kind === "entry", JSON.stringify(r));
      assert.equal(text(r.entry.payload), p);
    }
    assert.ok((await log.tail()) > Math.max(...appended.map((x) => x.slot)));
  });

  it("fails pending grants as unavailable when its sequencer goes away, then fails over to the next address", async () => {
    const a = await sequencer("seq-first");
    const b = await sequencer("seq-second");
    const tokens = source([a.address, b.address]);
    assert.ok((await tokens.grant(LOG, { asks: [ask(100)] })).ok);
    await a.server.close();
    a.sequencer.close();
    const codes: string[] = [];
    let granted = false;
    for (let attempt = 0; attempt < 50 && !granted; attempt++) {
      const r = await tokens.grant(LOG, { asks: [ask(101)] });
      if (r.ok) granted = true;
      else {
        codes.push(r.failure.code);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    assert.ok(granted, `never granted after failover: ${codes.join(", ")}`);
    assert.ok(codes.every((c) => c === "unavailable" || c === "timeout"), codes.join(", "));
    assert.equal(tokens.address, b.address);
    assert.ok(tokens.counters.failovers >= 1);
  });

  it("answers an invalid request alone, with an invalid failure", async () => {
    const a = await sequencer("seq-invalid");
    const tokens = source([a.address]);
    const [bad, good] = await Promise.all([tokens.grant("$alloc/orders", { asks: [ask(1)] }), tokens.grant(LOG, { asks: [ask(2)] })]);
    assert.ok(!bad.ok && bad.failure.code === "invalid", JSON.stringify(bad));
    assert.ok(good.ok, JSON.stringify(good));
  });

  it("a request unanswered by its deadline fails with timeout", async (t) => {
    const server = newServer();
    server.addService(SequencerService, { session: () => {}, status: () => {} });
    const port = await bindServer(server, {});
    t.after(() => shutdownServer(server));
    const tokens = source([`127.0.0.1:${port}`], { deadlineMs: 150 });
    const started = Date.now();
    const r = await tokens.grant(LOG, { asks: [ask(1)] });
    assert.ok(!r.ok && r.failure.code === "timeout", JSON.stringify(r));
    assert.ok(Date.now() - started < 2_000);
    tokens.close(); // cancels the stream, so the server shuts down at once
  });

  it("two sequencers that redirect to each other: the grant fails after a bounded number of hops", async (t) => {
    const ports: number[] = [];
    for (const k of [0, 1]) {
      const server = newServer();
      const handlers: SequencerHandlers = {
        session: (call) =>
          call.on("data", (bytes: Uint8Array) => {
            const d = decodeGrantRequests(bytes);
            if (!d.ok) return;
            const active = { owner: `loop-${1 - k}`, address: `127.0.0.1:${ports[1 - k]}` };
            call.write(encodeGrantReplies(d.value.map((f) => ({ id: f.id, result: { ok: false, failure: { code: "redirect", message: "elsewhere", active } } }))));
          }),
        status: () => {},
      };
      server.addService(SequencerService, handlers);
      ports.push(await bindServer(server, {}));
      t.after(() => shutdownServer(server));
    }
    const tokens = source([`127.0.0.1:${ports[0]}`]);
    const r = await tokens.grant(LOG, { asks: [ask(1)] });
    assert.ok(!r.ok && r.failure.code === "unavailable" && /redirected 5 times without an answer/.test(r.failure.message), JSON.stringify(r));
    assert.equal(tokens.counters.redirects, 4);
    tokens.close();
  });

  it("an unreachable sequencer fails grants as unavailable", async () => {
    const a = await sequencer("seq-gone");
    await a.server.close();
    const tokens = source([a.address]);
    const r = await tokens.grant(LOG, { asks: [ask(1)] });
    assert.ok(!r.ok && r.failure.code === "unavailable", JSON.stringify(r));
  });

  it("with a cluster token, refuses sessions without it", async () => {
    const token = "a-token-of-sixteen-chars";
    const a = await sequencer("seq-token", token);
    const without = await source([a.address]).grant(LOG, { asks: [ask(1)] });
    assert.ok(!without.ok && without.failure.code === "unavailable" && /token/.test(without.failure.message), JSON.stringify(without));
    const withToken = await source([a.address], { token }).grant(LOG, { asks: [ask(2)] });
    assert.ok(withToken.ok, JSON.stringify(withToken));
  });

  it("a second sequencer stands by and redirects to the active one; a takeover hint makes it take over, and the fenced one steps down", async () => {
    const log = "standby";
    await WormLog.create(cluster.client().client, log);
    const a = await sequencer("seq-active", undefined, { advertise: true });
    const b = await sequencer("seq-standby", undefined, { advertise: true });
    const viaA = source([a.address]);
    const viaB = source([b.address]);
    const appendA = new WormLog({ client: cluster.client().client, log, tokens: viaA, clientId: "a" });
    const appendB = new WormLog({ client: cluster.client().client, log, tokens: viaB, clientId: "b" });
    const first = await appendA.append(bytes("one"));
    const second = await appendB.append(bytes("two"));
    assert.equal(second.slot, first.slot + 1, "the standby's client appended through the active sequencer");
    assert.equal(viaB.counters.redirects, 1);
    assert.equal(viaB.address, a.address);
    assert.deepEqual(b.sequencer.status().find((l) => l.log === log), {
      log,
      phase: "standby",
      next: 0,
      captured: 0,
      recoveries: 1,
      queued: 0,
      streams: 0,
      sealedBelow: 0,
      dedupeFrom: 0,
      active: a.address,
    });

    const hinted = await source([b.address]).grant(log, { asks: [], takeover: a.address });
    assert.ok(hinted.ok, JSON.stringify(hinted));
    assert.equal(b.sequencer.status().find((l) => l.log === log)?.phase, "ready", "the hint made the standby take over");
    const third = await appendA.append(bytes("three"));
    assert.ok(third.slot > second.slot);
    assert.equal(viaA.address, b.address, "the fenced sequencer redirected its client to the new active one");
    const stepped = a.sequencer.status().find((l) => l.log === log);
    assert.deepEqual([stepped?.phase, stepped?.active, stepped?.recoveries], ["standby", b.address, 1], "it stepped down without recovering again");
  });
});
