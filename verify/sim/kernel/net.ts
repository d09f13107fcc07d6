/**
 * The simulated network: messages are delayed (base latency, jitter, buggified slow messages), lost
 * and duplicated while faults are on. Register frames are datagrams (reordered freely); an ordered
 * stream (an app's messages over one gRPC stream) may lose a message but never duplicates or
 * reorders one. Partitions cut the link between any two endpoints, by name ("a0" for acceptor 0,
 * a process's name for a process), until mended.
 */
import { buggify } from "../../runtime/buggify.ts";
import type { Prng } from "../../runtime/prng.ts";
import { probe } from "../../runtime/probe.ts";
import type { Faults } from "./options.ts";
import type { EventQueue } from "./queue.ts";

interface NetClock {
  now(): number;
  healed(): boolean;
  record(line: string): void;
}

/** The link between two endpoints, either way round ("a0|c1"). */
const linkOf = (a: string, b: string): string => (a < b ? `${a}|${b}` : `${b}|${a}`);

/** The endpoint name of acceptor `i`. */
export const acceptorName = (i: number): string => `a${i}`;

const ACCEPTOR_NAME = /^a(\d+)$/;

/** The acceptor an endpoint name names, if it names one (process names never do). */
export function acceptorIndex(name: string): number | undefined {
  const m = ACCEPTOR_NAME.exec(name);
  return m ? Number(m[1]) : undefined;
}

export class Net<E> {
  /** Per ordered stream: when its last message arrives (later ones may not overtake it). */
  private readonly streamAt = new Map<string, number>();
  private readonly cut = new Set<string>();

  constructor(
    private readonly queue: EventQueue<E>,
    private readonly prng: Prng,
    private readonly faults: Faults,
    private readonly clock: NetClock,
  ) {}

  delay(): number {
    const healed = this.clock.healed();
    const f = healed ? 0 : this.faults.jitterMs;
    const slow = !healed && buggify("sim.net.slowMessage") ? 50 + this.prng.int(200) : 0;
    return 1 + this.prng.int(2) + (f > 0 ? this.prng.int(f + 1) : 0) + slow;
  }

  /** A datagram: may be lost, duplicated, reordered. */
  datagram(event: E, desc: string): void {
    const f = this.clock.healed() ? undefined : this.faults;
    if (f && this.prng.chance(f.loss)) {
      this.clock.record(`lost ${desc}`);
      return;
    }
    this.queue.push(this.clock.now() + this.delay(), event);
    if (f && this.prng.chance(f.duplication)) {
      probe("sim.net.duplicated");
      this.queue.push(this.clock.now() + this.delay(), event);
    }
  }

  /** A message on the ordered stream `stream`: may be lost, arrives after the stream's earlier ones. */
  stream(event: E, stream: string, desc: string): void {
    if (!this.clock.healed() && this.prng.chance(this.faults.loss)) {
      this.clock.record(`lost ${desc}`);
      return;
    }
    const at = Math.max(this.clock.now() + this.delay(), this.streamAt.get(stream) ?? 0);
    this.streamAt.set(stream, at);
    this.queue.push(at, event);
  }

  // ---- Partitions. ----
  /** Cut the link between `a` and `b`; false if it was cut already. */
  cutLink(a: string, b: string): boolean {
    const link = linkOf(a, b);
    if (this.cut.has(link)) return false;
    this.cut.add(link);
    return true;
  }

  /** Mend the link; false if it was not cut. */
  mend(a: string, b: string): boolean {
    return this.cut.delete(linkOf(a, b));
  }

  isCut(a: string, b: string): boolean {
    return this.cut.size > 0 && this.cut.has(linkOf(a, b));
  }

  /** Every cut link, as its two endpoints. */
  cutLinks(): (readonly [string, string])[] {
    return [...this.cut].map((l) => l.split("|") as [string, string]);
  }
}
