/**
 * The transaction model for the model checker (`worm check mc --model txn`): one transaction whose
 * participants each vote YES at their own address, a coordinator that reads the votes, and
 * recoverers that resolve it, all running the real transaction core over the real register
 * operations (txn-actors.ts), against 3 acceptors running the real acceptor step (wor-acceptor.ts).
 * The network is the register model's (wor.ts): every request ever sent may be received at any
 * time, any number of times, or never; replies reach their actor or are lost; an actor may time
 * out at any moment; an acceptor may crash before it syncs a step.
 *
 * Invariants after every transition: the register layer's (at most one value chosen per vote,
 * commit flags only on chosen values) and the transaction's, against the ghost of chosen votes:
 * every outcome anyone learns follows from the chosen votes (committed: every vote a chosen YES;
 * aborted: some vote a chosen NO), and everyone learns the same one (so it never changes).
 */
import { majority } from "../../../paxos/quorum.ts";
import { outcomeProblem } from "../../../apps/txn/core/invariants.ts";
import type { Outcome } from "../../../apps/txn/core/outcome.ts";
import { decodeVote } from "../../../apps/txn/core/record.ts";
import { assert } from "../../runtime/assert.ts";
import { type ChosenGhost, checkCommitted, observeChosen } from "../../spec/register-invariants.ts";
import type { Model } from "../engine.ts";
import { type Actor, type ActorTransition, TEV, type TxnModelOptions, txnActors } from "./txn-actors.ts";
import { acceptors, wrap } from "./wor-acceptor.ts";
import { type Acc, type Msg, type ReqMsg, SPACE, type Transition, WOR_MODEL_DEFAULTS, type WorAction, cached, encAcc, encMsg, hex, network, propCodes, sentCodes } from "./wor-state.ts";

export const TXN_MODEL_DEFAULTS: TxnModelOptions = {
  acceptors: 3,
  participants: 3,
  recoverers: 2,
  coordinator: true,
  attempts: 1,
  crashes: 1,
  commits: false,
  symmetry: true,
};

export interface TxnState {
  readonly acc: readonly Acc[];
  readonly actors: readonly Actor[];
  readonly sent: ReadonlyMap<string, Msg>;
  readonly crashLeft: number;
  readonly chosen: ChosenGhost;
  /** Outcomes learned so far: 1 committed, 2 aborted. */
  readonly learned: number;
  readonly events: number;
  readonly bad?: string;
}

const OUTCOME_BIT: Record<Outcome, number> = { committed: 1, aborted: 2 };

type TxnTransition = Transition & ActorTransition;

export function txnModel(options: Partial<TxnModelOptions> = {}): Model<TxnState, WorAction> & { readonly options: TxnModelOptions } {
  const o: TxnModelOptions = { ...TXN_MODEL_DEFAULTS, ...options };
  assert(o.participants >= 1 && o.acceptors >= 1 && o.attempts >= 1, "the model needs participants, acceptors and attempts");
  const quorum = majority(o.acceptors);
  const wo = { ...WOR_MODEL_DEFAULTS, acceptors: o.acceptors, crashes: o.crashes, commits: o.commits, symmetry: o.symmetry };
  const net = network(wo);
  const actors = txnActors(o, (c, from, tag, req) => net.broadcast(c as TxnTransition, from, tag, req));
  const accs = acceptors(wo, net.identity, (c, from, to, tag, replies) => {
    if (c.loseReplies) return;
    for (const rep of replies) actors.onReply(c as TxnTransition, to, from, tag, rep);
  });
  const transition = (s: { sent: ReadonlyMap<string, Msg>; actors: readonly Actor[] }, loseReplies: boolean, own: boolean): TxnTransition => ({
    sent: s.sent as Map<string, Msg>,
    ownSent: own,
    props: [],
    actors: [...s.actors],
    loseReplies,
    changed: false,
    events: 0,
    bad: [],
    acked: [],
    reads: [],
    decisions: [],
  });
  const votesOf = (ghost: ChosenGhost) => Array.from({ length: o.participants }, (_, i) => {
    const v = ghost.get(`${SPACE}[${i}]`);
    return v ? decodeVote(v) : undefined;
  });

  const init = (): TxnState => {
    const c = transition({ sent: new Map(), actors: [] }, false, true);
    actors.init(c);
    return { acc: accs.init(), actors: c.actors, sent: c.sent, crashLeft: o.crashes, chosen: new Map(), learned: 0, events: 0 };
  };

  const next = (s: TxnState, action: WorAction): TxnState | undefined => {
    const c = transition(s, action.kind === "receiveLoseReply", false);
    const acc = [...s.acc];
    let { crashLeft } = s;
    if (action.kind === "receive" || action.kind === "receiveLoseReply") accs.deliver(acc, s.sent.get(action.msg)! as ReqMsg, c);
    else if (action.kind === "crashAfter") {
      accs.deliver(acc, s.sent.get(action.msg)! as ReqMsg, c, true);
      if (!c.changed) return undefined;
      crashLeft--;
    } else if (action.kind === "sync") accs.sync(acc, action.acceptor, c);
    else if (action.kind === "crash") {
      accs.crash(acc, action.acceptor, c);
      crashLeft--;
    } else actors.timeout(c, action.proposer);
    if (!c.changed && c.bad.length === 0) return undefined;
    const votesChanged = acc.some((a, i) => a.votes !== s.acc[i]!.votes);
    const seen = votesChanged ? observeChosen(s.chosen, acc.map((a) => a.votes), quorum) : { ghost: s.chosen, violations: [] };
    c.bad.push(...seen.violations);
    if (o.commits) c.bad.push(...checkCommitted(seen.ghost, [...acc.map((a) => wrap(a.durable)), ...acc.map((a) => wrap(a.volatile))]));
    let { learned } = s;
    for (const [i, outcome] of c.decisions) {
      const who = `${actors.roles[i]} ${i}`;
      const problem = outcomeProblem(votesOf(seen.ghost), outcome);
      if (problem) c.bad.push(`${who} learned ${problem}`);
      if (learned !== 0 && learned !== OUTCOME_BIT[outcome]) c.bad.push(`${who} learned ${outcome}, another learned the other outcome`);
      learned |= OUTCOME_BIT[outcome];
      if (outcome === "committed") c.events |= TEV.committed;
    }
    return {
      acc,
      actors: c.actors,
      sent: c.sent,
      crashLeft,
      chosen: seen.ghost,
      learned,
      events: c.events,
      ...(c.bad.length > 0 ? { bad: c.bad.join("; ") } : {}),
    };
  };

  const encode = (s: TxnState): string => {
    const codes = s.acc.map(encAcc);
    let perm: readonly number[] = net.identity;
    if (o.symmetry) {
      const order = [...net.identity].sort((x, y) => (codes[x]! < codes[y]! ? -1 : codes[x]! > codes[y]! ? 1 : x - y));
      const renamed = new Array<number>(o.acceptors);
      order.forEach((a, rank) => {
        renamed[a] = rank;
      });
      perm = renamed;
      codes.sort();
    }
    const pk = perm.join("");
    const sent = cached(sentCodes, s.sent, pk, () =>
      [...s.sent.values()]
        .map((m) => encMsg(m, perm))
        .sort()
        .join(" "),
    );
    const as = s.actors.map((a) => cached(propCodes, a, pk, () => actors.encode(a, perm))).join("|");
    const chosen = [...s.chosen].map(([k, v]) => `${k}=${hex(v)}`).sort();
    return `${codes.join("|")}\n${as}\n${sent}\n${s.crashLeft}/${s.learned}[${chosen.join(",")}]`;
  };

  const ev = (bit: number) => (s: TxnState) => (s.events & bit) !== 0;
  return {
    options: o,
    init: () => [init()],
    actions(s) {
      const out: WorAction[] = [];
      for (const [k, m] of s.sent) {
        if (s.acc[m.to]!.memo.has(k)) continue;
        out.push({ kind: "receive", msg: k });
        if (actors.waitsFor(s.actors[m.from]!, m.to, m.tag)) out.push({ kind: "receiveLoseReply", msg: k });
        if (s.crashLeft > 0 && accs.lossy(s.acc[m.to]!)) out.push({ kind: "crashAfter", msg: k });
      }
      s.actors.forEach((a, i) => {
        if (!actors.finished(a)) out.push({ kind: "timeout", proposer: i });
      });
      return out;
    },
    next,
    encode,
    formatAction(a) {
      switch (a.kind) {
        case "receive":
          return `receive ${a.msg}`;
        case "receiveLoseReply":
          return `receive ${a.msg}, lose the reply`;
        case "crashAfter":
          return `receive ${a.msg}, then crash that acceptor before it syncs`;
        case "sync":
        case "crash":
          return `${a.kind} acceptor ${a.acceptor}`;
        case "timeout":
          return `timeout ${actors.roles[a.proposer]} ${a.proposer}`;
      }
    },
    formatState(s) {
      const as = s.acc.map((a, i) => `acceptor ${i}: ${encAcc(a)}`);
      const ps = s.actors.map((a, i) => `${actors.roles[i]} ${i}: ${actors.format(a)}`);
      const chosen = [...s.chosen].map(([k, v]) => `${k}=${decodeVote(v).kind}`).join(", ");
      return [...as, ...ps, `sent: ${[...s.sent.keys()].join(" ") || "(none)"}`, `chosen: ${chosen || "-"}${s.bad ? `\nVIOLATION: ${s.bad}` : ""}`].join("\n");
    },
    always: [{ name: "transaction and register invariants", check: (s) => s.bad }],
    sometimes: [
      { name: "a commit was learned", check: ev(TEV.committed) },
      ...(o.recoverers > 0
        ? [
            { name: "a recoverer aborted the transaction (NO into a missing vote)", check: ev(TEV.abortedByRecovery) },
            { name: "a recoverer found a late YES and committed", check: ev(TEV.recoveredYes) },
            { name: "a late YES was refused (the participant got the recoverer's NO)", check: ev(TEV.lateYesRefused) },
          ]
        : []),
      ...(o.recoverers > 1 ? [{ name: "a recoverer's capture was preempted (two recoverers raced)", check: ev(TEV.recovererPreempted) }] : []),
    ],
    eventually: [{ name: "every actor finished", check: (s) => s.actors.every(actors.finished) }],
  };
}
