/**
 * WormTX's participant service (apps/txn/wire, node/participant-server.ts, node/remote-participants.ts):
 * the codecs refuse bad input as values, and a coordinator commits over participants reached by gRPC
 * (a NO's reason reaches it); a participant it cannot reach leaves its vote unknown, and the
 * transaction aborts at the deadline.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeOps } from "../../../apps/txn/core/bank.ts";
import { encodeRecord } from "../../../apps/txn/core/record.ts";
import { startParticipantServer } from "../../../apps/txn/node/participant-server.ts";
import { remoteParticipants } from "../../../apps/txn/node/remote-participants.ts";
import { TxnCoordinator } from "../../../apps/txn/node/coordinator.ts";
import { type TxnReplyFrame, type TxnRequestFrame, decodeReplies, decodeRequests, encodeReplies, encodeRequests, replyFrameBytes, requestFrameBytes } from "../../../apps/txn/wire/codec.ts";
import * as pb from "../../../proto/gen/wormspace/v1/txn.ts";
import { Bank, SPACE, transferParts, until } from "./txn-harness.ts";

const record = encodeRecord({ participants: ["p0", "p1"], deadline: 1, coordinator: "c" });

test("participant codecs: requests and replies round-trip by id; bad input is a value, never an exception", () => {
  const prepare = { space: "bank", txn: 65, index: 1, record, payload: encodeOps([{ account: "a1", delta: 5 }]) };
  const requests: TxnRequestFrame[] = [
    { id: 7, kind: "prepare", prepare },
    { id: 8, kind: "decide", decide: { space: "bank", txn: 3, outcome: "aborted" } },
  ];
  assert.deepEqual(decodeRequests(encodeRequests(requests)), { ok: true, value: requests });
  const yes = { kind: "yes" as const, participant: "p1", record, payload: prepare.payload };
  const replies: TxnReplyFrame[] = [
    { id: 8, reply: { ok: true, value: undefined } },
    { id: 7, reply: { ok: true, value: yes } },
    { id: 10, reply: { ok: true, value: { kind: "no", participant: "p1", reason: "account a1 is locked by another transaction" } } },
    { id: 11, reply: { ok: true, value: { kind: "no", participant: "p1" } } },
    { id: 9, reply: { ok: false, failure: { code: "unknownTxn", message: "gone" } } },
  ];
  assert.deepEqual(decodeReplies(encodeReplies(replies)), { ok: true, value: replies });
  for (const f of replies) assert.ok(replyFrameBytes(f) >= encodeReplies([f]).byteLength, JSON.stringify(f));
  for (const f of requests) assert.ok(requestFrameBytes(f) >= encodeRequests([f]).byteLength, JSON.stringify(f));

  // A frame that fails validation keeps its id (the participant answers it alone).
  const bad = (p: typeof prepare) => {
    const d = decodeRequests(encodeRequests([{ id: 5, kind: "prepare", prepare: p }]));
    assert.ok(d.ok);
    const f = d.value[0]!;
    return f.kind === "invalid" ? `${f.id} ${f.error.code}: ${f.error.message}` : "accepted";
  };
  assert.match(bad({ ...prepare, space: "$alloc/bank" }), /^5 invalid: invalid transaction space/);
  assert.match(bad({ ...prepare, index: 16 }), /^5 invalid: participant index 16 is not below 16/);
  assert.match(bad({ ...prepare, payload: new Uint8Array(64 * 1024 + 1) }), /^5 tooLarge: payload/);
  assert.equal(decodeRequests(Uint8Array.of(0xff, 0xff, 0xff)).ok, false);
  const frame = (m: pb.TxnReplyFrame) => pb.TxnReplyEnvelope.encode({ frames: [m] }).finish();
  assert.equal(decodeReplies(frame({ id: 1, result: { $case: "failure", value: { code: 99 as pb.TxnFailureCode, message: "?" } } })).ok, false);
  assert.equal(decodeReplies(frame({ id: 1 })).ok, false);
});

test("a coordinator commits over participants served by gRPC; one it cannot reach aborts the transaction at the deadline", { timeout: 60_000 }, async (t) => {
  const bank = await Bank.start(t, 2);
  const servers = await Promise.all(["p0", "p1"].map((name) => startParticipantServer({ participant: bank.store(name), token: "s3cret" })));
  t.after(() => Promise.all(servers.map((s) => s.close())));
  const addresses = new Map(servers.map((s, i) => [`p${i}`, `127.0.0.1:${s.port}`] as const));
  const link = remoteParticipants({ addresses, token: "s3cret" });
  t.after(() => link.close());
  const coord = new TxnCoordinator({ client: bank.cluster.client().client, space: SPACE, participants: link, timeoutMs: 400 });

  const done = await coord.commit(transferParts(0, 1, 25));
  assert.equal(done.outcome, "committed");
  await until(() => bank.store("p1").balances.get("a1") === 125, "p1 to apply the commit");
  assert.equal(bank.store("p0").balances.get("a0"), 75);

  // A wrong token is refused by the server: the vote is unknown, not a NO.
  const intruder = remoteParticipants({ addresses, token: "wrong" });
  t.after(() => intruder.close());
  const refused = await intruder.prepare("p0", { space: SPACE, txn: 1, index: 0, record, payload: new Uint8Array() });
  assert.ok(!refused.ok && refused.failure.code === "unavailable" && /token/.test(refused.failure.message), JSON.stringify(refused));

  // A coordinator of another cluster is refused by name, and so is nothing it sends.
  const foreign = await startParticipantServer({ participant: bank.store("p0"), clusterId: "dev-a" });
  t.after(() => foreign.close());
  const at = `127.0.0.1:${foreign.port}`;
  const stranger = remoteParticipants({ addresses: new Map([["p0", at]]), clusterId: "dev-b" });
  t.after(() => stranger.close());
  const other = await stranger.prepare("p0", { space: SPACE, txn: 1, index: 0, record, payload: new Uint8Array() });
  assert.ok(!other.ok, JSON.stringify(other));
  assert.equal(other.failure.message, `participant p0: the participant at ${at} belongs to cluster dev-a, not dev-b: check its address and --cluster`);
  const same = remoteParticipants({ addresses: new Map([["p0", at]]), clusterId: "dev-a" });
  t.after(() => same.close());
  // Served: the participant itself answers (transaction 1 is decided already).
  const served = await same.prepare("p0", { space: SPACE, txn: 1, index: 0, record, payload: new Uint8Array() });
  assert.ok(!served.ok && /decided already/.test(served.failure.message), JSON.stringify(served));

  // A NO's reason crosses the wire to the coordinator.
  const overdrawn = await coord.commit(transferParts(0, 1, 500));
  assert.deepEqual([overdrawn.outcome, overdrawn.refusals], ["aborted", [{ participant: "p0", reason: "account a0 would go negative" }]]);
  const asked = await link.prepare("p1", { space: SPACE, txn: await bank.freshTxn(), index: 0, record: encodeRecord({ participants: ["p1"], deadline: Date.now() + 5_000, coordinator: "c" }), payload: new Uint8Array() });
  assert.deepEqual(asked, { ok: true, value: { kind: "no", participant: "p1", reason: "no ops" } });

  await servers[1]!.close();
  const cut = await coord.commit(transferParts(0, 1, 10));
  assert.equal(cut.outcome, "aborted");
  assert.deepEqual(cut.refusals, [{}], "resolved at the deadline: the recoverer's NO names nobody");
  const s = await coord.status(cut.txn);
  assert.deepEqual(s.votes.map((v) => (v.state === "chosen" ? v.vote.kind : v.state)), ["yes", "no"]);
  await until(() => bank.store("p0").inDoubt.length === 0, "p0 to learn the abort");
  assert.equal(bank.store("p0").balances.get("a0"), 75, "the aborted debit was released");
});
