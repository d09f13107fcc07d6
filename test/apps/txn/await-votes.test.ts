/**
 * A coordinator whose participant's answer is lost learns that vote as soon as it is chosen, not at
 * the deadline (apps/txn/core/coordinator.ts `awaitOutcome`): the vote is cast after the coordinator
 * read the votes back, while another vote is already known (a new watch pushes the known one first;
 * the coordinator must wait past it for the unknown one). A NO learned so says why in the commit's
 * refusals.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { TxnResult } from "../../../apps/txn/core/steps.ts";
import type { Vote } from "../../../apps/txn/core/record.ts";
import { TxnCoordinator } from "../../../apps/txn/node/coordinator.ts";
import type { ParticipantLink } from "../../../apps/txn/node/driver.ts";
import { localParticipants } from "../../../apps/txn/node/participant.ts";
import { delay } from "../../../wor/node/driver.ts";
import { encodeOps } from "../../../apps/txn/core/bank.ts";
import { Bank, SPACE, transferParts } from "./txn-harness.ts";

/** A link to the bank's stores on which p1's answers are lost (it votes `lateMs` later). */
function losingP1(bank: Bank, lateMs: number): { link: ParticipantLink; cast: () => Promise<TxnResult<Vote>> | undefined } {
  const local = localParticipants(bank.stores.values());
  let cast: Promise<TxnResult<Vote>> | undefined;
  const link: ParticipantLink = {
    prepare: (name, request) => {
      if (name !== "p1") return local.prepare(name, request);
      cast = delay(lateMs).then(() => local.prepare(name, request));
      return Promise.resolve({ ok: false, failure: { code: "unavailable", message: "the answer was lost" } });
    },
    notify: local.notify,
  };
  return { link, cast: () => cast };
}

test("a vote whose answer is lost, chosen after the read-back, is learned when it is chosen, not at the deadline", { timeout: 30_000 }, async (t) => {
  const bank = await Bank.start(t, 2);
  // p1 votes 300 ms late, and its answer is lost: to the coordinator its vote is unknown.
  const { link, cast } = losingP1(bank, 300);
  const timeoutMs = 6_000;
  const coord = new TxnCoordinator({ client: bank.cluster.client().client, space: SPACE, participants: link, timeoutMs });
  const start = Date.now();
  const r = await coord.commit(transferParts(0, 1, 25));
  const took = Date.now() - start;
  const p1 = await cast();
  assert.ok(p1?.ok && p1.value.kind === "yes", `p1's late vote: ${JSON.stringify(p1)}`);
  assert.equal(r.outcome, "committed");
  assert.ok(took < timeoutMs / 2, `the coordinator learned p1's YES after ${took} ms (deadline ${timeoutMs} ms)`);
});

test("a NO whose answer is lost is learned when it is chosen, with its reason", { timeout: 30_000 }, async (t) => {
  const bank = await Bank.start(t, 2);
  const { link, cast } = losingP1(bank, 300);
  const timeoutMs = 6_000;
  const coord = new TxnCoordinator({ client: bank.cluster.client().client, space: SPACE, participants: link, timeoutMs });
  const start = Date.now();
  const r = await coord.commit([
    { participant: "p0", payload: encodeOps([{ account: "a0", delta: -25 }]) },
    { participant: "p1", payload: encodeOps([{ account: "a9", delta: 25 }]) },
  ]);
  const took = Date.now() - start;
  assert.deepEqual(await cast(), { ok: true, value: { kind: "no", participant: "p1", reason: "unknown account a9" } });
  assert.deepEqual([r.outcome, r.refusals], ["aborted", [{ participant: "p1", reason: "unknown account a9" }]]);
  assert.ok(took < timeoutMs / 2, `the coordinator learned p1's NO after ${took} ms (deadline ${timeoutMs} ms)`);
});
