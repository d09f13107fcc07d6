/**
 * Whom an acceptor serves (docs/ARCHITECTURE.md §3.5). Every session declares the epoch of the
 * configuration its client runs under. The acceptor refuses a session of an older epoch than the
 * newest configuration it was told of (`reconfigured`, with that configuration, so the client can
 * follow), serves no one once a configuration left it out (`retired`), and while **joining** (a
 * replacement being brought up to date) serves only its installer. This is the fence: once a
 * quorum of configuration e learned e+1, no quorum of e can form again, so nothing accepted under
 * a retired configuration can be acknowledged.
 */
import { type Configuration, sameConfiguration } from "../core/configuration.ts";
import { planted } from "../../verify/runtime/planted.ts";
import type { NodeIdentity } from "./storage.ts";

export type Refusal = {
  readonly kind: "reconfigured" | "retired" | "joining";
  readonly message: string;
  /** The configuration to follow (reconfigured, retired). */
  readonly configuration?: Configuration;
};

/** What telling the acceptor a configuration, or activating it, does to its identity. */
export type Change = { readonly kind: "adopt"; readonly identity: NodeIdentity } | { readonly kind: "same" } | { readonly kind: "refused"; readonly message: string };

export class Membership {
  private readonly listeners = new Set<() => void>();
  constructor(private current: NodeIdentity) {}

  /** Be told after each change adopted (the server then ends the sessions it fences); returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get identity(): NodeIdentity {
    return this.current;
  }

  /** The epoch of the newest configuration this acceptor knows (0: the cluster file's). */
  get epoch(): number {
    return this.current.configuration?.epoch ?? 0;
  }

  get joining(): boolean {
    return this.current.joining === true;
  }

  /** A configuration left this acceptor out: it serves no one again. */
  get retired(): boolean {
    const c = this.current.configuration;
    return c !== undefined && !c.acceptors.some((m) => m.id === this.current.acceptorId);
  }

  private get who(): string {
    return `acceptor ${this.current.acceptorId}`;
  }

  /** Whether a session of `epoch` (from the installer or not) is served; undefined: it is. */
  admit(epoch: number, installer: boolean): Refusal | undefined {
    const c = this.current.configuration;
    if (this.retired) return { kind: "retired", message: `${this.who} was retired by epoch ${this.epoch}`, ...(c ? { configuration: c } : {}) };
    if (this.joining && (!installer || epoch !== this.epoch || !c)) {
      return { kind: "joining", message: `${this.who} is joining${c ? ` epoch ${this.epoch}` : ""} and is not serving yet: its state is being installed` };
    }
    if (epoch < this.epoch && !planted("admitStaleEpoch")) return { kind: "reconfigured", message: `the cluster moved to epoch ${this.epoch} (the client runs under epoch ${epoch})`, ...(c ? { configuration: c } : {}) };
    return undefined;
  }

  /** Told configuration `c`: adopt it if it is newer; the same one again is no change. */
  tell(c: Configuration): Change {
    const mine = this.current.configuration;
    if (mine && c.epoch === mine.epoch) return sameConfiguration(c, mine) ? { kind: "same" } : { kind: "refused", message: `${this.who} already holds another configuration for epoch ${c.epoch}` };
    if (c.epoch <= this.epoch) return { kind: "refused", message: `${this.who} is at epoch ${this.epoch}, past epoch ${c.epoch}` };
    const serves = c.acceptors.some((m) => m.id === this.current.acceptorId);
    const { joining: _, ...rest } = this.current;
    return { kind: "adopt", identity: { ...rest, configuration: c, ...(this.joining && serves ? { joining: true } : {}) } };
  }

  /** A joining acceptor whose state is installed starts serving everyone. */
  activate(): Change {
    if (!this.joining) return this.retired ? { kind: "refused", message: `${this.who} was retired by epoch ${this.epoch}` } : { kind: "same" };
    if (!this.current.configuration) return { kind: "refused", message: `${this.who} was told no configuration yet` };
    const { joining: _, ...rest } = this.current;
    return { kind: "adopt", identity: rest };
  }

  /** The identity a change adopted became durable. */
  adopted(identity: NodeIdentity): void {
    this.current = identity;
    for (const l of this.listeners) l();
  }
}
