/**
 * The log simulation's network: messages delayed (jitter, buggified slow messages), lost and
 * duplicated while faults are on. Register frames are datagrams (reordered freely); token asks and
 * grants travel on one ordered stream per link, as over gRPC (lost, never duplicated or reordered)
 * unless `tokenDisorder` is on.
 */
import { buggify } from "../runtime/buggify.ts";
import type { Prng } from "../runtime/prng.ts";
import type { LogFaults } from "./log-options.ts";
import type { EventQueue } from "./queue.ts";

export interface NetClock {
  now(): number;
  healed(): boolean;
  record(line: string): void;
}

export class SimNet<E> {
  /** Per token stream: when its last message arrives (later ones may not overtake it). */
  private readonly streamAt = new Map<string, number>();

  constructor(
    private readonly queue: EventQueue<E>,
    private readonly prng: Prng,
    private readonly faults: LogFaults,
    private readonly clock: NetClock,
  ) {}

  delay(): number {
    const healed = this.clock.healed();
    const f = healed ? 0 : this.faults.jitterMs;
    const slow = !healed && buggify("sim.net.slowMessage") ? 50 + this.prng.int(200) : 0;
    return 1 + this.prng.int(2) + (f > 0 ? this.prng.int(f + 1) : 0) + slow;
  }

  /** A datagram: may be lost, duplicated, reordered. */
  send(event: E, desc: string): void {
    const f = this.clock.healed() ? undefined : this.faults;
    if (f && this.prng.chance(f.loss)) {
      this.clock.record(`lost ${desc}`);
      return;
    }
    this.queue.push(this.clock.now() + this.delay(), event);
    if (f && this.prng.chance(f.duplication)) this.queue.push(this.clock.now() + this.delay(), event);
  }

  /** A message on the ordered stream `link`. */
  stream(event: E, link: string, desc: string): void {
    const healed = this.clock.healed();
    if (this.faults.tokenDisorder && !healed) {
      this.send(event, `${link} ${desc}`);
      if (buggify("sim.log.duplicateAsk")) this.send(event, `${link} ${desc} again`);
      return;
    }
    if (!healed && this.prng.chance(this.faults.loss)) {
      this.clock.record(`lost ${link} ${desc}`);
      return;
    }
    const at = Math.max(this.clock.now() + this.delay(), this.streamAt.get(link) ?? 0);
    this.streamAt.set(link, at);
    this.queue.push(at, event);
  }
}
