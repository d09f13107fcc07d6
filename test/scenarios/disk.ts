/**
 * A scenario's acceptor: the real acceptor core (`step`, paxos/acceptor.ts) over a simulated disk
 * whose durability the scenario controls. Each step's mutations and its held replies wait in a
 * pending batch; `sync` makes the batches durable in order and only then releases their replies
 * (paxos/held.ts: a reply is opened only with the receipt of a durable batch). A step with no
 * mutations while nothing is pending answers at once, as the real group commit does. With the
 * disk in `auto` mode every step syncs at once; in `manual` mode batches wait for `sync`.
 *
 * A crash loses the in-memory state and everything pending (the volatile committed hints too); a
 * restart rebuilds the state from the durable mutations with the real `applyMutation`.
 *
 * The ghost (`Ghost`) records every vote that became durable: an address's value is chosen once a
 * quorum of acceptors made a vote for the same ballot durable, and no address may have two.
 */
import { type AcceptorState, applyMutation, emptyAcceptor, step } from "../../paxos/acceptor.ts";
import { checkAcceptorStep, snapshotAcceptor } from "../../paxos/acceptor-invariants.ts";
import { type Ballot, formatBallot } from "../../paxos/ballot.ts";
import { type Held, hold, mintReceipt, release } from "../../paxos/held.ts";
import type { Mutation, Reply, Request } from "../../paxos/messages.ts";
import { bytesEqual } from "../../verify/runtime/bytes.ts";
import { planted } from "../../verify/runtime/planted.ts";

/** Where a held reply goes once released. */
interface ReplyTo {
  readonly proc: string;
  readonly frameId: number;
  readonly space: string;
}

interface Batch {
  readonly mutations: readonly Mutation[];
  readonly replies: Held<readonly Reply[]>;
  readonly to: ReplyTo | undefined;
}

export interface Released {
  readonly to: ReplyTo;
  readonly replies: readonly Reply[];
}

/** What one step did: its replies if they left at once, else that they are held. */
type StepOutcome = { readonly kind: "answered"; readonly replies: readonly Reply[] } | { readonly kind: "held"; readonly mutations: readonly Mutation[] };

export class ScenarioAcceptor {
  up = true;
  mode: "auto" | "manual" = "auto";
  private state: AcceptorState = emptyAcceptor();
  private readonly durable: Mutation[] = [];
  private pending: Batch[] = [];
  private batches = 0;
  readonly violations: string[] = [];

  constructor(
    readonly name: string,
    readonly index: number,
    private readonly ghost: Ghost,
  ) {}

  get live(): AcceptorState {
    return this.state;
  }
  get unsynced(): { mutations: number; replies: number } {
    return { mutations: this.pending.reduce((n, b) => n + b.mutations.length, 0), replies: this.pending.filter((b) => b.to).length };
  }

  /** Run one request through the core; `to` = undefined: nobody waits for the answer. */
  handle(request: Request, to: ReplyTo | undefined): { outcome: StepOutcome; released: Released[] } {
    const before = snapshotAcceptor(this.state);
    const out = step(this.state, request);
    this.violations.push(...checkAcceptorStep(before, out.state, request).map((v) => `${this.name}: ${v}`));
    if (out.persist.length === 0 && this.pending.length === 0) {
      return { outcome: { kind: "answered", replies: release(out.replies, mintReceipt(this.batches)) }, released: [] };
    }
    if (planted("replyBeforePersist") && this.mode === "manual") {
      // The planted driver bug: the reply leaves before its mutations are durable.
      this.pending.push({ mutations: out.persist, replies: hold([]), to: undefined });
      return { outcome: { kind: "answered", replies: release(out.replies, mintReceipt(this.batches)) }, released: [] };
    }
    this.pending.push({ mutations: out.persist, replies: out.replies, to });
    if (this.mode === "manual") return { outcome: { kind: "held", mutations: out.persist }, released: [] };
    const released = this.sync();
    const mine = released.pop();
    return { outcome: { kind: "answered", replies: mine?.replies ?? [] }, released };
  }

  /** Make every pending batch durable, in order; release their replies. */
  sync(): Released[] {
    const released: Released[] = [];
    for (const b of this.pending) {
      this.durable.push(...b.mutations);
      for (const m of b.mutations) if (m.kind === "address" && m.state.accepted) this.ghost.vote(this.index, m.space, m.index, m.state.accepted.ballot, m.state.accepted.value);
      const replies = release(b.replies, mintReceipt(++this.batches));
      if (b.to) released.push({ to: b.to, replies });
    }
    this.pending = [];
    return released;
  }

  /** Lose the in-memory state and everything not yet durable. */
  crash(): { mutations: number; replies: number } {
    const lost = this.unsynced;
    this.up = false;
    this.pending = [];
    this.state = emptyAcceptor();
    return lost;
  }

  /** Come back with the state the durable mutations rebuild. */
  restart(): number {
    this.state = emptyAcceptor();
    for (const m of this.durable) applyMutation(this.state, m);
    this.up = true;
    return this.durable.length;
  }
}

interface Vote {
  readonly ballot: Ballot;
  readonly value: Uint8Array;
  readonly voters: Set<number>;
}

/** Verification-only: every durable vote ever made, and what that makes chosen. */
export class Ghost {
  private readonly votes = new Map<string, Map<string, Vote>>();
  readonly violations: string[] = [];
  constructor(private readonly quorum: () => number) {}

  vote(acceptor: number, space: string, index: number, ballot: Ballot, value: Uint8Array): void {
    const key = `${space}[${index}]`;
    let byBallot = this.votes.get(key);
    if (!byBallot) this.votes.set(key, (byBallot = new Map()));
    const b = formatBallot(ballot);
    let v = byBallot.get(b);
    if (!v) byBallot.set(b, (v = { ballot, value, voters: new Set() }));
    if (!bytesEqual(v.value, value)) this.violations.push(`${key}: ballot ${b} carries two values`);
    v.voters.add(acceptor);
    const chosen = this.chosenVotes(space, index);
    if (chosen.some((c) => !bytesEqual(c.value, chosen[0]!.value))) this.violations.push(`${key}: two different values chosen`);
  }

  /** The votes of `space[index]` that a quorum made durable (all for one value, or a violation). */
  chosenVotes(space: string, index: number): Vote[] {
    return [...(this.votes.get(`${space}[${index}]`)?.values() ?? [])].filter((v) => v.voters.size >= this.quorum());
  }

  chosen(space: string, index: number): Uint8Array | undefined {
    return this.chosenVotes(space, index)[0]?.value;
  }
}
