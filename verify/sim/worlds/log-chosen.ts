/**
 * Which log slots are chosen, from the acceptors' durable votes (a ghost of the log simulation):
 * once a quorum of acceptors made a vote for one ballot durable at a slot, its value is chosen.
 */
import { formatBallot } from "../../../paxos/ballot.ts";
import type { Mutation } from "../../../paxos/messages.ts";

export class ChosenSlots {
  /** Durable votes per `slot@ballot`: which acceptors, and the value. */
  private readonly votes = new Map<string, { acceptors: Set<number>; value: Uint8Array }>();

  constructor(
    private readonly space: string,
    private readonly quorum: number,
  ) {}

  /** Votes `acceptor` made durable; returns the slots that became chosen by them. */
  add(acceptor: number, mutations: readonly Mutation[]): { slot: number; value: Uint8Array }[] {
    const out: { slot: number; value: Uint8Array }[] = [];
    for (const m of mutations) {
      if (m.kind !== "address" || m.space !== this.space || !m.state.accepted) continue;
      const k = `${m.index}@${formatBallot(m.state.accepted.ballot)}`;
      let v = this.votes.get(k);
      if (!v) this.votes.set(k, (v = { acceptors: new Set(), value: m.state.accepted.value }));
      if (v.acceptors.has(acceptor)) continue;
      v.acceptors.add(acceptor);
      if (v.acceptors.size === this.quorum) out.push({ slot: m.index, value: v.value });
    }
    return out;
  }
}
