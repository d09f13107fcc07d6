/**
 * Replacing an acceptor under random schedules, pure (docs/ARCHITECTURE.md §3.5): the real acceptor
 * core (every step checked against the acceptor invariants, `install` included), the real
 * membership (`admit`, `tell`, `activate`), the real client core (rounds, resends, `onReconfigured`)
 * and the state copy's join, wired by a network that delivers frames in a random order, drops and
 * duplicates them. Acceptors 0, 1, 2 serve epoch 0; acceptor 3 joins. At random points: the fence
 * (epoch 1 told to 0 and 1, while 2 is away: it stays a zombie with its state, never told, serving
 * whoever still runs epoch 0), the copy (the join of 0 and 1 installed into 3), the activation.
 * Clients keep capturing and writing small addresses throughout; a client refused by a fenced
 * acceptor follows epoch 1 (its sessions renewed: replies of the old ones are dropped, frames of
 * the old ones may still arrive). Persistence is immediate (the node and simulator cover disks).
 *
 * At the fence half the clients start over with the new configuration (a new cluster file).
 *
 * The check: one value per address over everything any client observed (a write acknowledged, a
 * value found written); at the end, a recovering read of every address through epoch 1 agrees. With
 * the planted bug admitStaleEpoch a client still at epoch 0 meets the zombie and a fenced acceptor
 * that admits it, and writes a second value: caught within the first seeds. What these schedules
 * rarely reach: a client whose round mixes a reply of the zombie with one under the new epoch (the
 * reason the client core starts rounds over when it follows); test/wor/reconfigure.test.ts builds
 * that case over gRPC.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { type AcceptorState, emptyAcceptor, step } from "../../paxos/acceptor.ts";
import { checkAcceptorStep, snapshotAcceptor } from "../../paxos/acceptor-invariants.ts";
import { mintReceipt, release } from "../../paxos/held.ts";
import type { Reply, Request } from "../../paxos/messages.ts";
import { CLIENT_DEFAULTS, WorClientCore } from "../../wor/core/client-core.ts";
import type { Configuration } from "../../wor/core/configuration.ts";
import type { CaptureResult, OpResult, ReadResult, WriteResult } from "../../wor/core/results.ts";
import { installRequests, joinReports, rangesRequest } from "../../wor/core/state-copy.ts";
import { inspected } from "../../wor/node/node-admin.ts";
import { Membership } from "../../wor/node/membership.ts";
import { plantBugForTest } from "../../verify/runtime/planted.ts";
import { Prng } from "../../verify/runtime/prng.ts";

const ADDRESSES = 12;
const CLIENTS = 4;
const C1: Configuration = { epoch: 1, quorum: 2, acceptors: [0, 1, 3].map((id) => ({ id, address: `a${id}` })) };

interface Acceptor {
  readonly id: number;
  readonly state: AcceptorState;
  readonly m: Membership;
}

interface Client {
  readonly core: WorClientCore;
  epoch: number;
  slots: number[];
  session: number;
  /** The op in flight: a capture, then the write of what it captured; or the final read. */
  op?: { readonly id: number; readonly kind: "capture" | "write" | "read"; readonly index: number };
  writes: number;
}

type Msg =
  | { readonly kind: "req"; readonly client: number; readonly to: number; readonly epoch: number; readonly frameId: number; readonly request: Request }
  | { readonly kind: "rep"; readonly client: number; readonly slot: number; readonly session: number; readonly frameId: number; readonly reply: Reply }
  | { readonly kind: "refused"; readonly client: number; readonly configuration: Configuration };

const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** One schedule: what went wrong, if anything. */
function schedule(seed: number): string[] {
  const prng = new Prng(seed);
  const problems: string[] = [];
  const acceptors: Acceptor[] = [0, 1, 2, 3].map((id) => ({ id, state: emptyAcceptor(), m: new Membership({ clusterId: "p", acceptorId: id, createdAt: "t", ...(id === 3 ? { joining: true } : {}) }) }));
  for (const a of acceptors.slice(0, 3)) step(a.state, { kind: "createSpace", space: "s" });
  const clients: Client[] = Array.from({ length: CLIENTS }, (_, k) => ({
    core: new WorClientCore({ ...CLIENT_DEFAULTS, acceptors: 3, quorum: 2, proposerId: k + 1, segmentSize: 16, roundTimeoutMs: 400, resendMs: 40 }),
    epoch: 0,
    slots: [0, 1, 2],
    session: 0,
    writes: 0,
  }));
  let wire: Msg[] = [];
  let now = 0;
  /** What clients observed chosen, per address. */
  const observed = new Map<number, string>();
  const observe = (index: number, value: string, how: string) => {
    const before = observed.get(index);
    if (before === undefined) observed.set(index, value);
    else if (before !== value) problems.push(`s[${index}]: ${how} ${value}, but ${before} was observed before`);
  };
  let phase = "serving" as "serving" | "fenced" | "copied" | "active";
  const at = { fence: 30 + prng.int(300), copy: 0, activate: 0 };

  const collect = (k: number) => {
    const c = clients[k]!;
    const out = c.core.takeOutputs();
    for (const s of out.sends) if (s.frame.kind === "request") wire.push({ kind: "req", client: k, to: c.slots[s.to]!, epoch: c.epoch, frameId: s.frame.id, request: s.frame.request });
    for (const d of out.completions) if (d.op === c.op?.id) complete(k, d.result);
  };
  const complete = (k: number, r: OpResult<unknown>) => {
    const c = clients[k]!;
    const op = c.op!;
    c.op = undefined;
    if (!r.ok) return;
    if (op.kind === "capture") {
      const got = r.value as CaptureResult;
      if (got._tag !== "Captured") return;
      const found = got.written.get(op.index);
      if (found) return observe(op.index, text(found), "a capture found");
      const value = `c${k}-${c.writes++}`;
      c.op = { id: c.core.write(got.capture, [{ index: op.index, value: new TextEncoder().encode(value) }], now), kind: "write", index: op.index };
      pending.set(`${k}:${c.op.id}`, value);
    } else if (op.kind === "write") {
      const w = (r.value as Map<number, WriteResult>).get(op.index)!;
      if (w._tag === "Ok") observe(op.index, pending.get(`${k}:${op.id}`)!, "a write acknowledged");
      else if (w._tag === "AlreadyWritten") observe(op.index, text(w.value), "a write found");
    } else {
      const got = (r.value as Map<number, ReadResult>).get(op.index)!;
      if (got._tag === "Written") observe(op.index, text(got.value), "the final read found");
      else problems.push(`the final read of s[${op.index}] through epoch 1 found ${got._tag}`);
    }
  };
  const pending = new Map<string, string>();

  /** Client `k` follows `configuration`: slots to its acceptors, rounds over, every session renewed. */
  const follow = (k: number, configuration: Configuration) => {
    const c = clients[k]!;
    if (configuration.epoch <= c.epoch) return;
    c.epoch = configuration.epoch;
    c.slots = configuration.acceptors.map((x) => x.id);
    c.session++;
    c.core.onReconfigured();
    for (let s = 0; s < 3; s++) c.core.onReconnect(s);
    collect(k);
  };
  const deliver = (m: Msg) => {
    if (m.kind === "refused") return follow(m.client, m.configuration);
    if (m.kind === "rep") {
      const c = clients[m.client]!;
      if (m.session !== c.session) return; // the session it came on was renewed
      c.core.onReply(m.slot, m.frameId, m.reply, now);
      return collect(m.client);
    }
    const a = acceptors[m.to]!;
    const no = a.m.admit(m.epoch, false);
    if (no) {
      if (no.configuration) wire.push({ kind: "refused", client: m.client, configuration: no.configuration });
      return;
    }
    const before = snapshotAcceptor(a.state);
    const r = step(a.state, m.request);
    problems.push(...checkAcceptorStep(before, r.state, m.request).map((v) => `acceptor ${a.id}: ${v}`));
    const c = clients[m.client]!;
    const slot = c.slots.indexOf(a.id);
    if (slot >= 0) for (const reply of release(r.replies, mintReceipt(0))) wire.push({ kind: "rep", client: m.client, slot, session: c.session, frameId: m.frameId, reply });
  };

  const reconfigure = () => {
    if (phase === "serving" && now >= at.fence) {
      // Acceptor 2 is away: the fence reaches 0 and 1 (a quorum of epoch 0) and the replacement.
      for (const a of [acceptors[0]!, acceptors[1]!, acceptors[3]!]) {
        const c = a.m.tell(C1);
        if (c.kind === "adopt") a.m.adopted(c.identity);
      }
      phase = "fenced";
      at.copy = now + prng.int(200);
      // Half the clients start over with the new cluster file; the others run on at epoch 0 until refused.
      for (let k = 0; k < CLIENTS / 2; k++) follow(k, C1);
    } else if (phase === "fenced" && now >= at.copy) {
      // The copy: the join of 0 and 1, installed into 3 (which holds nothing yet).
      const spaces = [...acceptors[0]!.state.spaces.keys()];
      const three = acceptors[3]!.state;
      step(three, { kind: "createSpace", space: "s" });
      for (const space of spaces) {
        const reports = [0, 1].map((i) => inspected(acceptors[i]!.state, { space, from: 0, to: 1 << 20 }));
        const joined = joinReports(reports.map((x) => x.addresses));
        for (const q of [...installRequests(space, joined), rangesRequest(space, reports.flatMap((x) => x.ranges))]) {
          const before = snapshotAcceptor(three);
          const r = step(three, q);
          problems.push(...checkAcceptorStep(before, r.state, q).map((v) => `acceptor 3 (install): ${v}`));
        }
      }
      phase = "copied";
      at.activate = now + prng.int(100);
    } else if (phase === "copied" && now >= at.activate) {
      const c = acceptors[3]!.m.activate();
      if (c.kind === "adopt") acceptors[3]!.m.adopted(c.identity);
      phase = "active";
    }
  };

  for (let t = 0; t < 4_000 && problems.length === 0; t++) {
    const k = prng.int(CLIENTS);
    const c = clients[k]!;
    if (!c.op && c.writes < 10 && prng.chance(0.3)) {
      const index = prng.int(ADDRESSES);
      c.op = { id: c.core.capture("s", index, index + 1, now), kind: "capture", index };
      collect(k);
    }
    if (wire.length > 0 && prng.chance(0.9)) {
      const m = wire.splice(prng.int(wire.length), 1)[0]!;
      if (prng.chance(0.05)) wire.push(m); // duplicated
      if (!prng.chance(0.05)) deliver(m); // else lost
    } else {
      now += 1 + prng.int(10);
      for (let i = 0; i < CLIENTS; i++) {
        clients[i]!.core.tick(now);
        collect(i);
      }
      reconfigure();
    }
  }
  if (problems.length > 0 || phase !== "active") return problems;
  // The end: every address read back, recovering, through a client of epoch 1 (acceptor 2 gone).
  const reader = new WorClientCore({ ...CLIENT_DEFAULTS, acceptors: 3, quorum: 2, proposerId: 99, segmentSize: 16 });
  clients.push({ core: reader, epoch: 1, slots: [0, 1, 3], session: 0, writes: 0 });
  wire = wire.filter((m) => m.kind === "req" && m.to !== 2);
  for (let index = 0; index < ADDRESSES; index++) {
    const r = clients[CLIENTS]!;
    r.op = { id: reader.read("s", index, index + 1, true, now), kind: "read", index };
    collect(CLIENTS);
    for (let t = 0; t < 2_000 && r.op; t++) {
      const m = wire.shift();
      if (m) {
        if (m.kind !== "req" || m.to !== 2) deliver(m);
      } else {
        now += 50;
        reader.tick(now);
        collect(CLIENTS);
      }
    }
    if (r.op) problems.push(`the final read of s[${index}] did not finish`);
  }
  return problems;
}

test("random schedules of a replacement: one value per address, whatever the order of fence, copy, activation and client rounds", () => {
  for (let seed = 1; seed <= 300; seed++) {
    const problems = schedule(seed);
    assert.deepEqual(problems, [], `seed ${seed}`);
  }
});

test("planted admitStaleEpoch: a client still at epoch 0 writes a second value through the zombie and a fenced acceptor; caught", () => {
  const caught = plantBugForTest("admitStaleEpoch", () => {
    for (let seed = 1; seed <= 2_000; seed++) {
      const problems = schedule(seed);
      if (problems.length > 0) return { seed, problems };
    }
    return undefined;
  });
  assert.ok(caught, "no schedule of 2,000 caught the planted bug");
  assert.match(caught.problems[0]!, /observed before|final read/);
});
