/**
 * The minority-down capture (a `sometimes` property of the register world): a capture that
 * starts while a minority of acceptors is unreachable from its client and the reachable bare
 * majority holds mixed promises, one of them above the client's next ballot. Its first prepare
 * cannot capture (one rejection, one promise, the rest down); it must still succeed, because the
 * rejection lifts the next attempt above the rejecting ballot. Before that fix such a capture
 * failed at its deadline, every time, while the acceptor stayed down.
 *
 * `MinorityWatch` notes such captures when they start and counts those that finish `Captured`
 * while the case held throughout: the same acceptors unreachable (a link that came back voids it)
 * and no other client's ballot reaching the address meanwhile (that could change the promises).
 * Nor does one count that starts while a reachable acceptor reads its disk: frames delivered to it
 * (another client's prepare) are not in its state yet, so its promises are not known.
 */
import { type Ballot, ballotLt } from "../../../paxos/ballot.ts";
import { probe } from "../../runtime/probe.ts";

export interface CaptureStart {
  readonly client: number;
  readonly op: number;
  readonly from: number;
  readonly to: number;
  readonly acceptors: number;
  readonly quorum: number;
  /** The ballot the client's next prepare will carry. */
  readonly next: Ballot;
  readonly reachable: (acceptor: number) => boolean;
  /** Does `acceptor`'s state hold every frame delivered to it (none waits for a read of its disk)? */
  readonly settled: (acceptor: number) => boolean;
  /** The highest promise `acceptor` holds over the capture's range. */
  readonly promised: (acceptor: number) => Ballot;
}

export const MINORITY_PROBES = {
  started: "sim.capture.minorityDownMixedPromises.started",
  captured: "sim.capture.minorityDownMixedPromises.captured",
} as const;

export class MinorityWatch {
  /** `${client}:${op}` → the range and the acceptors unreachable at its start. */
  private readonly watched = new Map<string, { readonly from: number; readonly to: number; readonly down: readonly number[] }>();

  start(s: CaptureStart): void {
    const down: number[] = [];
    const up: number[] = [];
    for (let a = 0; a < s.acceptors; a++) (s.reachable(a) ? up : down).push(a);
    if (down.length === 0 || up.length !== s.quorum || !up.every(s.settled)) return;
    const rejects = up.filter((a) => ballotLt(s.next, s.promised(a))).length;
    if (rejects === 0 || rejects === up.length) return;
    probe(MINORITY_PROBES.started);
    this.watched.set(`${s.client}:${s.op}`, { from: s.from, to: s.to, down });
  }

  /** `client`'s link to `acceptor` came back: its watched captures no longer qualify. */
  reconnected(client: number, acceptor: number): void {
    for (const [key, w] of this.watched) if (key.startsWith(`${client}:`) && w.down.includes(acceptor)) this.watched.delete(key);
  }

  /** A ballot of `client` reached an acceptor over [from, to): other clients' captures there no longer qualify. */
  ballotArrived(client: number, from: number, to: number): void {
    for (const [key, w] of this.watched) if (!key.startsWith(`${client}:`) && from < w.to && w.from < to) this.watched.delete(key);
  }

  finish(client: number, op: number, captured: boolean): void {
    const key = `${client}:${op}`;
    if (this.watched.delete(key) && captured) probe(MINORITY_PROBES.captured);
  }
}
