/**
 * The session budget (wor/node/session-budget.ts): sessions whose replies back up are paused,
 * resumed once they catch up, closed when they stay backed up; and over gRPC, a paused session's
 * requests stop reaching the node until the server closes it with RESOURCE_EXHAUSTED.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, mock, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import * as grpc from "@grpc/grpc-js";
import { decodeServerFrames, encodeClientFrames } from "../../wor/wire/codec.ts";
import type { ClientFrame } from "../../wor/core/frames.ts";
import { makeAcceptorClient } from "../../wor/wire/service.ts";
import { AcceptorNode } from "../../wor/node/acceptor-node.ts";
import { startAcceptorServer } from "../../wor/node/grpc-server.ts";
import { type BudgetedSession, SessionBudget } from "../../wor/node/session-budget.ts";
import { LevelStorage } from "../../wor/node/storage-level.ts";
import { CHANNEL_OPTIONS } from "../../proto/grpc-raw.ts";

/** A session that records what the budget did to it. */
function recorder() {
  const log: string[] = [];
  const session: BudgetedSession = {
    pause: () => log.push("pause"),
    resume: () => log.push("resume"),
    exhaust: (message) => log.push(`exhaust: ${message}`),
  };
  return { log, session };
}

describe("SessionBudget", () => {
  test("a session is paused at its bound and resumed at half of it", () => {
    const budget = new SessionBudget({ sessionBytesMax: 100, allSessionsBytesMax: 1_000, backedUpMsMax: 10_000 });
    const a = recorder();
    const m = budget.join(a.session);
    m.update(99);
    assert.deepEqual(a.log, []);
    m.update(100);
    assert.deepEqual(a.log, ["pause"]);
    m.update(150);
    m.update(51);
    assert.deepEqual(a.log, ["pause"], "still over half its bound");
    m.update(50);
    assert.deepEqual(a.log, ["pause", "resume"]);
    m.leave();
    assert.equal(budget.bytes, 0);
  });

  test("a session whose stream pushes back is paused until the stream takes writes again", () => {
    const budget = new SessionBudget({ sessionBytesMax: 100, allSessionsBytesMax: 1_000, backedUpMsMax: 10_000 });
    const a = recorder();
    const m = budget.join(a.session);
    m.update(10, true);
    assert.deepEqual(a.log, ["pause"]);
    m.update(30, true);
    m.update(70, false);
    assert.deepEqual(a.log, ["pause"], "the stream took writes, but 70 bytes are more than half the bound");
    m.update(40, false);
    assert.deepEqual(a.log, ["pause", "resume"]);
  });

  test("over the bound of all sessions, every session holding anything is paused until the total falls", () => {
    const budget = new SessionBudget({ sessionBytesMax: 100, allSessionsBytesMax: 150, backedUpMsMax: 10_000 });
    const [a, b, c, d] = [recorder(), recorder(), recorder(), recorder()];
    const [ma, mb, mc] = [budget.join(a.session), budget.join(b.session), budget.join(c.session)];
    budget.join(d.session);
    ma.update(90);
    mb.update(40);
    assert.deepEqual([a.log, b.log, c.log], [[], [], []]);
    mc.update(20);
    assert.equal(budget.bytes, 150);
    assert.deepEqual(c.log, ["pause"], "the session that took the total to its bound");
    mb.update(41);
    ma.update(91);
    assert.deepEqual([a.log, b.log], [["pause"], ["pause"]], "every session that holds bytes while the total is over");
    assert.deepEqual(d.log, [], "a session holding nothing goes on");
    assert.equal(budget.paused, 3);
    ma.leave();
    assert.deepEqual([b.log, c.log], [["pause", "resume"], ["pause", "resume"]], "the total fell: the others go on");
    assert.equal(budget.paused, 0);
  });

  test("a session backed up for backedUpMsMax is closed, and its bytes no longer count", () => {
    mock.timers.enable({ apis: ["setTimeout"] });
    try {
      const budget = new SessionBudget({ sessionBytesMax: 100, allSessionsBytesMax: 1_000, backedUpMsMax: 5_000 });
      const [a, b] = [recorder(), recorder()];
      const [ma, mb] = [budget.join(a.session), budget.join(b.session)];
      ma.update(120);
      mb.update(120);
      mock.timers.tick(3_000);
      mb.update(10);
      mock.timers.tick(2_000);
      assert.equal(a.log.length, 2);
      assert.match(a.log[1]!, /^exhaust: the client left 120 bytes of replies unread for \d+ ms \(limits: 100 bytes per session, 1000 across sessions/);
      assert.deepEqual(b.log, ["pause", "resume"], "the session that caught up in time stays");
      assert.equal(budget.bytes, 10);
      ma.update(500);
      assert.equal(budget.bytes, 10, "a closed session's updates are ignored");
    } finally {
      mock.timers.reset();
    }
  });

  test("limits are checked", () => {
    assert.throws(() => new SessionBudget({ sessionBytesMax: 0 }), /sessionBytesMax must be a positive integer/);
    assert.throws(() => new SessionBudget({ sessionBytesMax: 200, allSessionsBytesMax: 100 }), /cannot exceed/);
  });
});

describe("the acceptor server under a session budget", () => {
  test("a session that stops reading stops being read, then is closed with RESOURCE_EXHAUSTED", { timeout: 30_000 }, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "wor-session-budget-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const storage = await LevelStorage.open(dir);
    const node = await AcceptorNode.open({ storage, identity: { clusterId: "b", acceptorId: 1 }, init: true });
    const budget = { sessionBytesMax: 256 << 10, allSessionsBytesMax: 1 << 20, backedUpMsMax: 1_500 };
    const closedSessions: string[] = [];
    const server = await startAcceptorServer({ node, budget, onSessionClosed: (_peer, reason) => closedSessions.push(reason) });
    t.after(() => server.close());
    const c = new makeAcceptorClient(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    t.after(() => c.close());

    // 64 values of 4 KiB: a read of all of them answers about 260 KiB.
    const writer = c.session();
    const answered = new Promise<void>((resolve) => {
      let n = 0;
      writer.on("data", (bytes: Uint8Array) => {
        const d = decodeServerFrames(bytes);
        if (d.ok && (n += d.value.length) === 2) resolve();
      });
    });
    const ballot = { round: 1, proposer: 3 };
    const entries = Array.from({ length: 64 }, (_, index) => ({ index, value: new Uint8Array(4096).fill(index) }));
    writer.write(
      encodeClientFrames([
        { id: 1, kind: "request", request: { kind: "createSpace", space: "s" } },
        { id: 2, kind: "request", request: { kind: "accept", space: "s", ballot, entries } },
      ]),
    );
    await answered;
    writer.end();

    const stalled = c.session();
    stalled.pause();
    stalled.read(0);
    const closed = new Promise<grpc.ServiceError>((resolve) => stalled.on("error", resolve));
    let id = 10;
    const reads = (): ClientFrame[] => Array.from({ length: 8 }, () => ({ id: id++, kind: "request", request: { kind: "read", space: "s", from: 0, to: 64 } }));
    const pump = setInterval(() => {
      if (stalled.writableLength < 16) stalled.write(encodeClientFrames(reads()));
    }, 2);
    t.after(() => clearInterval(pump));

    await sleep(600);
    const handled = node.counters.submissions;
    await sleep(500);
    assert.equal(node.counters.submissions, handled, "no request of the backed-up session reached the node");
    const error = await closed;
    assert.equal(error.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(closedSessions.length, 1);
    assert.match(closedSessions[0]!, /left \d+ bytes of replies unread for \d+ ms \(limits: 262144 bytes per session/);
  });
});
