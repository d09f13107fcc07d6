/**
 * Configurations, membership and the state copy of a replacement (docs/ARCHITECTURE.md §3.5), pure:
 * encodings, the replace rule, whom an acceptor admits, and the join of the survivors' state.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { type Ballot, OWNER_BALLOT, ballotLt } from "../../paxos/ballot.ts";
import { type AcceptorState, applyMutation, effectivePromise, emptyAcceptor, step } from "../../paxos/acceptor.ts";
import { mintReceipt, release } from "../../paxos/held.ts";
import type { ReportedAddress } from "../../paxos/messages.ts";
import { type Configuration, added, configurationProblem, copySources, copySourcesNeeded, decodeConfiguration, encodeConfiguration, removed, replaced, successionProblem } from "../../wor/core/configuration.ts";
import { isValidQuorum } from "../../paxos/quorum.ts";
import { installRequests, joinRanges, joinReports, rangesRequest } from "../../wor/core/state-copy.ts";
import { checkAcceptorStep, snapshotAcceptor } from "../../paxos/acceptor-invariants.ts";
import { Membership } from "../../wor/node/membership.ts";
import { configuration as configurationArb } from "../proto/arbitraries.ts";

const C0: Configuration = {
  epoch: 0,
  quorum: 2,
  acceptors: [
    { id: 1, address: "h:1" },
    { id: 2, address: "h:2" },
    { id: 3, address: "h:3" },
  ],
};

describe("configuration", () => {
  test("encodes and decodes; garbage and unsafe quorums are refused with a reason", () => {
    fc.assert(fc.property(configurationArb(), (c) => assert.deepEqual(decodeConfiguration(encodeConfiguration(c)), { ok: true, value: c })));
    assert.match(decodeConfiguration(new TextEncoder().encode("{")).ok ? "" : "not a configuration", /not a configuration/);
    assert.match(configurationProblem({ ...C0, quorum: 1 }) ?? "", /not a safe quorum/);
    assert.match(configurationProblem({ ...C0, acceptors: [...C0.acceptors, { id: 1, address: "h:9" }] }) ?? "", /appears twice/);
  });

  test("replace keeps slots and quorum, takes the next epoch, and refuses ids that do not fit", () => {
    const r = replaced(C0, 3, { id: 4, address: "h:4" });
    assert.deepEqual(r, { ok: true, value: { epoch: 1, quorum: 2, acceptors: [C0.acceptors[0], C0.acceptors[1], { id: 4, address: "h:4" }] } });
    assert.match(replaced(C0, 9, { id: 4, address: "h:4" }).ok ? "" : "does not serve", /does not serve/);
    const reused = replaced(C0, 3, { id: 2, address: "h:4" });
    assert.ok(!reused.ok && /already serves/.test(reused.error));
    const taken = replaced(C0, 3, { id: 4, address: "h:1" });
    assert.ok(!taken.ok && /address of acceptor 1/.test(taken.error));
    assert.equal(copySourcesNeeded(C0), 2);
    assert.equal(copySourcesNeeded({ ...C0, quorum: 3, acceptors: [...C0.acceptors, { id: 4, address: "h:4" }, { id: 5, address: "h:5" }] }), 3);
  });

  test("add appends a slot and remove drops one, each under a majority unless told, and refuse what does not fit", () => {
    const plus = added(C0, { id: 4, address: "h:4" });
    assert.deepEqual(plus, { ok: true, value: { epoch: 1, quorum: 3, acceptors: [...C0.acceptors, { id: 4, address: "h:4" }] } });
    assert.ok(!added(C0, { id: 2, address: "h:9" }).ok, "an id that serves");
    assert.ok(!added(C0, { id: 4, address: "h:2" }).ok, "an address that serves");
    const four = (plus as { value: Configuration }).value;
    // 4 acceptors under quorum 2: two quorums need not meet.
    assert.match(added(C0, { id: 4, address: "h:4" }, 2).ok ? "" : "not a safe quorum", /not a safe quorum/);
    const minus = removed(four, 2);
    assert.deepEqual(minus, { ok: true, value: { epoch: 2, quorum: 2, acceptors: [four.acceptors[0], four.acceptors[2], four.acceptors[3]] } });
    assert.deepEqual(removed(C0, 1), { ok: true, value: { epoch: 1, quorum: 2, acceptors: [C0.acceptors[1], C0.acceptors[2]] } });
    assert.ok(!removed(C0, 9).ok, "an id that does not serve");
    const one: Configuration = { epoch: 0, quorum: 1, acceptors: [{ id: 1, address: "h:1" }] };
    assert.match(removed(one, 1).ok ? "" : "last one", /last one/);
    // One acceptor added or removed under a valid quorum always follows the rule (q' + q > n holds
    // for any two majorities of n and n ± 1); two at once need not: 2 of 3 that stay need not meet 3 of 5.
    const five: Configuration = { epoch: 0, quorum: 3, acceptors: [1, 2, 3, 4, 5].map((id) => ({ id, address: `h:${id}` })) };
    assert.match(successionProblem(five, { epoch: 1, quorum: 2, acceptors: five.acceptors.slice(0, 3) }) ?? "", /too small/);
    assert.equal(successionProblem(five, { epoch: 1, quorum: 3, acceptors: five.acceptors.slice(0, 3) }), undefined);
    assert.match(successionProblem(C0, { epoch: 2, quorum: 2, acceptors: C0.acceptors }) ?? "", /cannot follow/);
    // The copy to an added acceptor reads 2 of the 3 that stay (every quorum of 2 of 3 meets them), fenced ones only.
    assert.deepEqual(copySources(C0, four, [1, 2, 3, 4])?.map((m) => m.id), [1, 2]);
    assert.deepEqual(copySources(C0, four, [2, 3, 4])?.map((m) => m.id), [2, 3]);
    assert.equal(copySources(C0, four, [3, 4]), undefined);
    assert.match(successionProblem(C0, { epoch: 1, quorum: 2, acceptors: [C0.acceptors[0]!, C0.acceptors[1]!, { id: 3, address: "h:9" }] }) ?? "", /cannot change its address/);
  });

  test("the succession rule holds exactly when every quorum of the next configuration made of acceptors that stay meets every quorum of the one before", () => {
    const subsets = (ids: readonly number[], k: number): number[][] => (k === 0 ? [[]] : ids.length < k ? [] : [...subsets(ids.slice(1), k - 1).map((s) => [ids[0]!, ...s]), ...subsets(ids.slice(1), k)]);
    const shape = fc.integer({ min: 1, max: 6 }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: Math.floor(n / 2) + 1, max: n })));
    fc.assert(
      fc.property(shape, fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 8 }), (oldShape, keep, joining, q2) => {
        const [n, q] = oldShape;
        const before: Configuration = { epoch: 3, quorum: q, acceptors: Array.from({ length: n }, (_, i) => ({ id: i + 1, address: `h:${i + 1}` })) };
        const stay = before.acceptors.filter((_, i) => keep[i]).map((m) => m.id);
        const ids = [...stay, ...Array.from({ length: joining }, (_, k) => 100 + k)];
        if (ids.length === 0 || !isValidQuorum(q2, ids.length)) return;
        const next: Configuration = { epoch: 4, quorum: q2, acceptors: ids.map((id) => ({ id, address: `h:${id}` })) };
        const meets = subsets(stay, q2).every((a) => subsets(before.acceptors.map((m) => m.id), q).every((b) => a.some((x) => b.includes(x))));
        const copyable = joining === 0 || stay.length >= copySourcesNeeded(before);
        const problem = successionProblem(before, next);
        assert.equal(problem === undefined, meets && copyable, `${JSON.stringify({ n, q, ids, q2 })}: ${problem ?? "accepted"}`);
      }),
      { numRuns: 2_000 },
    );
  });
});

describe("membership", () => {
  const identity = { clusterId: "c", acceptorId: 2, createdAt: "t" };
  const C1 = (replaced(C0, 3, { id: 4, address: "h:4" }) as { value: Configuration }).value;

  test("an acceptor told epoch 1 refuses sessions of epoch 0 (naming epoch 1) and serves epoch 1 and later", () => {
    const m = new Membership(identity);
    assert.equal(m.admit(0, false), undefined);
    const told = m.tell(C1);
    assert.equal(told.kind, "adopt");
    if (told.kind === "adopt") m.adopted(told.identity);
    assert.equal(m.epoch, 1);
    assert.deepEqual(m.admit(0, false), { kind: "reconfigured", message: "the cluster moved to epoch 1 (the client runs under epoch 0)", configuration: C1 });
    assert.equal(m.admit(1, false), undefined);
    assert.equal(m.admit(2, false), undefined);
    assert.deepEqual(m.tell(C1), { kind: "same" });
    assert.equal(m.tell({ ...C1, quorum: 3 }).kind, "refused");
    assert.equal(m.tell(C0).kind, "refused");
  });

  test("a retired acceptor serves no one; a joining one only its installer of its epoch, until activated", () => {
    const retired = new Membership({ ...identity, acceptorId: 3 });
    const t = retired.tell(C1);
    if (t.kind === "adopt") retired.adopted(t.identity);
    assert.equal(retired.retired, true);
    assert.equal(retired.admit(1, false)?.kind, "retired");
    assert.equal(retired.activate().kind, "refused");

    const joining = new Membership({ ...identity, acceptorId: 4, joining: true });
    assert.equal(joining.admit(0, true)?.kind, "joining", "not told its configuration yet");
    assert.equal(joining.activate().kind, "refused");
    const j = joining.tell(C1);
    assert.ok(j.kind === "adopt" && j.identity.joining === true);
    if (j.kind === "adopt") joining.adopted(j.identity);
    assert.equal(joining.admit(1, false)?.kind, "joining");
    assert.equal(joining.admit(1, true), undefined);
    const a = joining.activate();
    assert.ok(a.kind === "adopt" && a.identity.joining === undefined);
    if (a.kind === "adopt") joining.adopted(a.identity);
    assert.equal(joining.admit(1, false), undefined);
    assert.deepEqual(joining.activate(), { kind: "same" });
  });

  test("listeners hear every adopted change", () => {
    const m = new Membership(identity);
    let heard = 0;
    const off = m.onChange(() => heard++);
    const t = m.tell(C1);
    if (t.kind === "adopt") m.adopted(t.identity);
    off();
    m.adopted(m.identity);
    assert.equal(heard, 1);
  });
});

const b = (round: number, proposer = 1): Ballot => ({ round, proposer });
const bytes = (s: string) => new TextEncoder().encode(s);

/** The state an empty acceptor reaches from the install requests of `joined` then `ranges`, sent
 *  `times` times over; every step answered `installed` and keeping the acceptor invariants. */
function installed(joined: readonly ReportedAddress[], ranges: Parameters<typeof rangesRequest>[1], times = 1): AcceptorState {
  const state = emptyAcceptor();
  applyMutation(state, { kind: "space", space: "s" });
  for (let t = 0; t < times; t++) {
    for (const q of [...installRequests("s", joined), rangesRequest("s", ranges)]) {
      const before = snapshotAcceptor(state);
      const r = step(state, q);
      assert.deepEqual(release(r.replies, mintReceipt(1)), [{ kind: "installed" }]);
      assert.deepEqual(checkAcceptorStep(before, state, q), []);
    }
  }
  return state;
}

describe("state copy", () => {
  test("the join keeps the highest promise, the highest accepted value and any commit", () => {
    const j = joinReports([
      [
        { index: 1, promised: b(3), accepted: { ballot: b(2), value: bytes("x") }, committed: false },
        { index: 2, promised: b(5), committed: false },
      ],
      [
        { index: 1, promised: b(2), accepted: { ballot: b(3), value: bytes("y") }, committed: true },
        { index: 3, promised: OWNER_BALLOT, accepted: { ballot: OWNER_BALLOT, value: bytes("o") }, committed: false },
      ],
    ]);
    assert.deepEqual(j, [
      { index: 1, promised: b(3), accepted: { ballot: b(3), value: bytes("y") }, committed: true },
      { index: 2, promised: b(5), committed: false },
      { index: 3, promised: OWNER_BALLOT, accepted: { ballot: OWNER_BALLOT, value: bytes("o") }, committed: false },
    ]);
    assert.deepEqual(joinRanges([[{ from: 0, to: 10, ballot: b(1) }], [{ from: 0, to: 10, ballot: b(1) }, { from: 20, to: 30, ballot: b(2) }]]), [
      { from: 0, to: 10, ballot: b(1) },
      { from: 20, to: 30, ballot: b(2) },
    ]);
  });

  test("an empty acceptor takes the install requests of any join (twice over: merging is idempotent) and ends holding it", () => {
    const report = fc.record({
      index: fc.nat(40),
      promised: fc.nat(6),
      accepted: fc.option(fc.record({ round: fc.nat(6), value: fc.constantFrom("a", "b", "c") }), { nil: undefined }),
      committed: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(fc.array(report, { maxLength: 12 }), { minLength: 1, maxLength: 3 }), fc.array(fc.record({ from: fc.nat(30), len: fc.integer({ min: 2, max: 10 }), round: fc.integer({ min: 1, max: 6 }) }), { maxLength: 3 }), (lists, rows) => {
        // Well-formed reports: a promise at least the accepted ballot; one value per ballot and index.
        const reports = lists.map((l) => {
          const byIndex = new Map<number, ReportedAddress>();
          for (const r of l) {
            const accepted = r.accepted && { ballot: r.accepted.round === 0 ? OWNER_BALLOT : b(r.accepted.round), value: bytes(`${r.index}/${r.accepted.round}`) };
            const promised = r.promised === 0 ? OWNER_BALLOT : b(r.promised);
            byIndex.set(r.index, { index: r.index, promised: accepted && ballotLt(promised, accepted.ballot) ? accepted.ballot : promised, ...(accepted ? { accepted } : {}), committed: r.committed && accepted !== undefined });
          }
          return [...byIndex.values()];
        });
        const joined = joinReports(reports);
        const ranges = joinRanges([rows.map((r) => ({ from: r.from, to: r.from + r.len, ballot: b(r.round) }))]);
        const once = installed(joined, ranges);
        assert.deepEqual(installed(joined, ranges, 2), once);
        const space = once.spaces.get("s")!;
        for (const a of joined) {
          const s = space.addresses.get(a.index);
          if (a.accepted) assert.deepEqual(s?.accepted, a.accepted, `accepted at ${a.index}`);
          assert.equal(s?.committed ?? false, a.committed);
          assert.ok(!ballotLt(effectivePromise(space, a.index), a.promised), `promise at ${a.index}`);
        }
        // Every row's promise is in force over its whole range.
        for (const r of ranges) for (let i = r.from; i < r.to; i++) assert.ok(!ballotLt(effectivePromise(space, i), r.ballot), `row [${r.from}, ${r.to}) at ${i}`);
      }),
      { numRuns: 300 },
    );
  });
});
