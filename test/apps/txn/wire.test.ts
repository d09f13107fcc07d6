/**
 * WormTX's participant service (apps/txn/wire, node/participant-server.ts, node/remote-participants.ts):
 * the codecs refuse bad input as values, and a coordinator commits over participants reached by gRPC;
 * a participant it cannot reach leaves its vote unknown, and the transaction aborts at the deadline.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeOps } from "../../../apps/txn/core/bank.ts";
import { encodeRecord } from "../../../apps/txn/core/record.ts";
import { startParticipantServer } from "../../../apps/txn/node/participant-server.ts";
import { remoteParticipants } from "../../../apps/txn/node/remote-participants.ts";
import { TxnCoordinator } from "../../../apps/txn/node/coordinator.ts";
import { decodeDecideRequest, decodePrepareReply, decodePrepareRequest, encodeDecideRequest, encodePrepareReply, encodePrepareRequest } from "../../../apps/txn/wire/codec.ts";
import * as pb from "../../../proto/gen/wormspace/v1/txn.ts";
import { Bank, SPACE, transferParts, until } from "./txn-harness.ts";

const record = encodeRecord({ participants: ["p0", "p1"], deadline: 1, coordinator: "c" });

test("participant codecs: requests and replies round-trip; bad input is a value, never an exception", () => {
  const req = { space: "bank", txn: 65, index: 1, record, payload: encodeOps([{ account: "a1", delta: 5 }]) };
  assert.deepEqual(decodePrepareRequest(encodePrepareRequest(req)), { ok: true, value: req });
  const yes = { kind: "yes" as const, participant: "p1", record, payload: req.payload };
  assert.deepEqual(decodePrepareReply(encodePrepareReply({ ok: true, value: yes })), { ok: true, value: { ok: true, value: yes } });
  assert.deepEqual(decodePrepareReply(encodePrepareReply({ ok: false, failure: { code: "unknownTxn", message: "gone" } })), { ok: true, value: { ok: false, failure: { code: "unknownTxn", message: "gone" } } });
  assert.deepEqual(decodeDecideRequest(encodeDecideRequest({ space: "bank", txn: 3, outcome: "aborted" })), { ok: true, value: { space: "bank", txn: 3, outcome: "aborted" } });

  const bad = (bytes: Uint8Array) => {
    const d = decodePrepareRequest(bytes);
    return d.ok ? "accepted" : `${d.error.code}: ${d.error.message}`;
  };
  assert.match(bad(encodePrepareRequest({ ...req, space: "$alloc/bank" })), /^invalid: invalid transaction space/);
  assert.match(bad(encodePrepareRequest({ ...req, index: 16 })), /^invalid: participant index 16 is not below 16/);
  assert.match(bad(encodePrepareRequest({ ...req, payload: new Uint8Array(64 * 1024 + 1) })), /^tooLarge: payload/);
  assert.match(bad(Uint8Array.of(0xff, 0xff, 0xff)), /^malformed/);
  const unknownCode = pb.TxnPrepareReply.encode({ result: { $case: "failure", value: { code: 99 as pb.TxnFailureCode, message: "?" } } }).finish();
  assert.deepEqual(decodePrepareReply(unknownCode).ok, false);
  assert.deepEqual(decodePrepareReply(pb.TxnPrepareReply.encode({}).finish()).ok, false);
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

  await servers[1]!.close();
  const cut = await coord.commit(transferParts(0, 1, 10));
  assert.equal(cut.outcome, "aborted");
  const s = await coord.status(cut.txn);
  assert.deepEqual(s.votes.map((v) => (v.state === "chosen" ? v.vote.kind : v.state)), ["yes", "no"]);
  await until(() => bank.store("p0").inDoubt.length === 0, "p0 to learn the abort");
  assert.equal(bank.store("p0").balances.get("a0"), 75, "the aborted debit was released");
});
