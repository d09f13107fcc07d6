/**
 * The transaction model's actors (verify/mc/models/txn.ts) run the real transaction core over the
 * real register operations: each actor's script is an apps/txn/core generator (its steps), each step
 * answered by the wor/core/ops.ts operation the client core would run (its rounds), each round
 * decided by the real `RoundTally`. As in the register model (wor-proposer.ts), an actor's state is
 * the list of round verdicts fed to its script; a step replays them into a fresh script (memoised).
 *  - participant i: `castVote` of its YES at address i (the owner write; if refused or unknown, the
 *    settle: capture, then what is there or NO). A NO back means it learned the abort.
 *  - the coordinator: `readVotes` once, and the outcome they imply, if any.
 *  - recoverers: `resolve` forced (they act past the deadline): read, capture the votes not chosen,
 *    write NO into the empty ones, decide.
 */
import type { Ballot } from "../../../paxos/ballot.ts";
import type { Reply, Request } from "../../../paxos/messages.ts";
import type { PrepareOutcome } from "../../../paxos/proposer.ts";
import { majority } from "../../../paxos/quorum.ts";
import * as ops from "../../../wor/core/ops.ts";
import type { OpContext } from "../../../wor/core/ops.ts";
import { type Round, type RoundOutcome, RoundTally, roundRequest } from "../../../wor/core/rounds.ts";
import { type Outcome, decide } from "../../../apps/txn/core/outcome.ts";
import { type Vote, encodeRecord } from "../../../apps/txn/core/record.ts";
import { type TxnRef, readVotes, resolve } from "../../../apps/txn/core/resolve.ts";
import type { TxnGen, TxnStep } from "../../../apps/txn/core/steps.ts";
import { castVote } from "../../../apps/txn/core/vote.ts";
import { assert } from "../../runtime/assert.ts";
import { ModelOpContext, encOutcome, resume } from "./wor-proposer.ts";
import { SPACE, b, encReply, encRequest } from "./wor-state.ts";

export type Role = "participant" | "coordinator" | "recoverer";

export interface TxnModelOptions {
  readonly acceptors: number;
  readonly participants: number;
  readonly recoverers: number;
  /** The coordinator reads the votes once. */
  readonly coordinator: boolean;
  /** Captures a settle or a recovery makes (and its capture's own attempts). */
  readonly attempts: number;
  /** Acceptor crashes allowed in a run. */
  readonly crashes: number;
  /** Operations tell the acceptors what they learned was chosen. */
  readonly commits: boolean;
  readonly symmetry: boolean;
}

/** Events the `sometimes` properties look for (above the register model's `EV` bits, which the acceptors set). */
export const TEV = {
  committed: 1 << 10,
  abortedByRecovery: 1 << 11,
  lateYesRefused: 1 << 12,
  recoveredYes: 1 << 13,
  recovererPreempted: 1 << 14,
} as const;

/** The transaction under check: segment 0 of the space, its votes at addresses [0, participants). */
const modelTxn = (participants: number): TxnRef => ({
  space: SPACE,
  segmentSize: participants,
  txn: 0,
  record: { participants: Array.from({ length: participants }, (_, i) => `p${i}`), deadline: 0, coordinator: "c" },
});

interface Verdict {
  readonly outcome: RoundOutcome;
  readonly rejection?: Ballot;
  readonly outcomeCode: string;
  readonly code: string;
}

export interface Actor {
  readonly verdicts: readonly Verdict[];
  readonly round?: Exclude<Round, { kind: "sleep" }>;
  readonly replies: readonly (readonly [number, Reply, string])[];
  readonly result?: string;
  readonly code: string;
}

/** What a script did while taking its latest verdict. */
interface Effects {
  readonly commits: Request[];
  decided?: Outcome;
  events: number;
}

const noEffects = (): Effects => ({ commits: [], events: 0 });

/** Answer a transaction script's steps with the register operations, as the client core would. */
function* viaOps<T>(ctx: OpContext, gen: TxnGen<T>): Generator<Round, T, RoundOutcome> {
  let r = gen.next();
  while (!r.done) {
    const s: TxnStep = r.value;
    let result: unknown;
    if (s.kind === "ownerWrite") result = yield* ops.unsafeWrite(ctx, s.space, [{ index: s.index, value: s.value }]);
    else if (s.kind === "capture") result = yield* ops.capture(ctx, s.space, s.from, s.to);
    else if (s.kind === "write") result = yield* ops.write(ctx, s.capture, s.entries);
    else if (s.kind === "read") result = yield* ops.read(ctx, s.space, s.from, s.to, s.recover);
    // Time: recoverers act past every deadline; sleeps (backoff) pass at once.
    else if (s.kind === "now") result = Number.MAX_SAFE_INTEGER;
    else assert(s.kind === "sleep", () => `the model answers no ${s.kind} step`);
    r = gen.next(result);
  }
  return r.value;
}

/** Actor `i`'s run: its role's operation of the transaction core. */
function* script(ctx: ModelOpContext<Effects>, o: TxnModelOptions, role: Role, i: number): Generator<Round, string, RoundOutcome> {
  const ref = modelTxn(o.participants);
  const cfg = { space: SPACE, segmentSize: o.participants, preemptRetriesMax: o.attempts, retryMs: 0 };
  if (role === "participant") {
    const yes: Vote = { kind: "yes", participant: `p${i}`, record: encodeRecord(ref.record), payload: new Uint8Array() };
    const r = yield* viaOps(ctx, castVote(cfg, 0, i, yes, "owner"));
    if (!r.ok) return `vote ${r.failure.code}`;
    if (r.value.kind === "no") {
      ctx.fx.events |= TEV.lateYesRefused;
      ctx.fx.decided = "aborted";
    }
    return `vote ${r.value.kind}`;
  }
  if (role === "coordinator") {
    const r = yield* viaOps(ctx, readVotes(ref));
    if (!r.ok) return `read ${r.failure.code}`;
    ctx.fx.decided = decide(r.value.map((v) => (v.state === "chosen" ? v.vote : undefined)));
    return `read: ${ctx.fx.decided ?? "undecided"}`;
  }
  const r = yield* viaOps(ctx, resolve(ref, cfg, true));
  if (!r.ok) return `resolve ${r.failure.code}`;
  ctx.fx.decided = r.value.outcome;
  if (r.value.recovered) ctx.fx.events |= r.value.outcome === "committed" ? TEV.recoveredYes : TEV.abortedByRecovery;
  return `resolve: ${r.value.outcome}${r.value.recovered ? " (recovered)" : ""}`;
}

/** Per actor: its role, in the order participants, coordinator, recoverers. */
export function roles(o: TxnModelOptions): Role[] {
  return [...Array<Role>(o.participants).fill("participant"), ...(o.coordinator ? ["coordinator" as const] : []), ...Array<Role>(o.recoverers).fill("recoverer")];
}

/** A transition's view of the actors (the model's transition carries one). */
export interface ActorTransition {
  actors: Actor[];
  changed: boolean;
  events: number;
  decisions: [number, Outcome][];
}

type Broadcast = (c: ActorTransition, from: number, tag: number, req: Request) => void;

export function txnActors(o: TxnModelOptions, broadcast: Broadcast) {
  const electorate = { acceptors: o.acceptors, quorum: majority(o.acceptors) };
  const who = roles(o);
  const memo = new Map<string, { round?: Actor["round"]; result?: string; fx: Effects; ballots: string }>();
  const tag = (a: Actor): number => a.verdicts.length + 1;

  const replay = (i: number, verdicts: readonly Verdict[]) => {
    const key = `${i}|${verdicts.map((v) => v.code).join(";")}`;
    let hit = memo.get(key);
    if (hit) return hit;
    // Participant i's ballots are (round, i + 1); the others' follow. Owner writes use the owner ballot.
    const ctx = new ModelOpContext(i + 1, o.attempts, o.commits, noEffects());
    const gen = script(ctx, o, who[i]!, i);
    let r = resume(gen);
    verdicts.forEach((v, k) => {
      assert(!r.done, "a verdict for a script that returned");
      if (k === verdicts.length - 1) ctx.fx = noEffects();
      if (v.rejection) ctx.learnBallot(v.rejection);
      r = resume(gen, v.outcome);
    });
    const ballots = `${ctx.made.map(b).join(",")}<${b(ctx.seen)}`;
    hit = r.done ? { result: r.value, fx: ctx.fx, ballots } : { round: r.value as Actor["round"], fx: ctx.fx, ballots };
    memo.set(key, hit);
    return hit;
  };

  const enter = (c: ActorTransition, i: number, verdicts: readonly Verdict[]): Actor => {
    const r = replay(i, verdicts);
    for (const req of r.fx.commits) broadcast(c, i, 0, req);
    c.events |= r.fx.events;
    if (r.fx.decided) c.decisions.push([i, r.fx.decided]);
    const code = `${verdicts.map((v) => v.outcomeCode).join(";")}[${r.ballots}]`;
    const a: Actor = { verdicts, replies: [], code, ...(r.round ? { round: r.round } : {}), ...(r.result !== undefined ? { result: r.result } : {}) };
    if (r.round) broadcast(c, i, tag(a), roundRequest(r.round));
    return a;
  };

  const decideRound = (c: ActorTransition, i: number, a: Actor, deadline: boolean): Actor => {
    const round = a.round!;
    const t = new RoundTally(round, electorate, 0);
    for (const [acc, rep] of a.replies) t.add(acc, rep);
    const outcome = t.decide(deadline);
    if (!outcome) return a;
    if (round.kind === "prepare" && (outcome as PrepareOutcome).kind === "preempted" && who[i] === "recoverer") c.events |= TEV.recovererPreempted;
    const rejection = t.highestRejection();
    const outcomeCode = encOutcome(round, outcome);
    const code = `${outcomeCode}${rejection ? `^${b(rejection)}` : ""}`;
    return enter(c, i, [...a.verdicts, { outcome, outcomeCode, code, ...(rejection ? { rejection } : {}) }]);
  };

  return {
    roles: who,
    init(c: ActorTransition): void {
      for (let i = 0; i < who.length; i++) c.actors.push(enter(c, i, []));
    },
    onReply(c: ActorTransition, i: number, from: number, t: number, rep: Reply): void {
      const a = c.actors[i]!;
      if (!a.round || t !== tag(a) || a.replies.some(([x]) => x === from)) return;
      const replies = [...a.replies, [from, rep, encReply(rep)] as const].sort((x, y) => x[0] - y[0]);
      c.actors[i] = decideRound(c, i, { ...a, replies }, false);
      c.changed = true;
    },
    timeout(c: ActorTransition, i: number): void {
      c.actors[i] = decideRound(c, i, c.actors[i]!, true);
      c.changed = true;
    },
    finished: (a: Actor): boolean => a.round === undefined,
    waitsFor: (a: Actor, acc: number, t: number): boolean => a.round !== undefined && tag(a) === t && !a.replies.some(([x]) => x === acc),
    encode(a: Actor, perm: readonly number[]): string {
      if (!a.round) return ".";
      return `${a.code}(${a.replies.map(([acc, , code]) => `${perm[acc]}:${code}`).sort().join(";")})`;
    },
    format(a: Actor): string {
      const now = a.round ? `waiting on ${encRequest(roundRequest(a.round))}, replies (${a.replies.map(([x, , code]) => `${x}:${code}`).join("; ")})` : `returned: ${a.result}`;
      return `verdicts [${a.verdicts.map((v) => v.code).join("; ")}], ${now}`;
    },
  };
}
