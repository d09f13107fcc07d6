/**
 * Whose data directory this is (docs/ARCHITECTURE.md §3.3, wor/README.md "A wiped acceptor does not
 * rejoin"): the refusals of a directory that is not this acceptor's, or is damaged. A data
 * directory records which acceptor of which cluster it belongs to; a node refuses one that holds no
 * identity unless told to initialise it, and one that belongs to another acceptor or cluster. An
 * acceptor whose disk was wiped must never rejoin under its old id: it forgot its promises and
 * accepted values, so a proposer could assemble a quorum that misses a chosen value and get a
 * second value chosen; the same holds for a directory whose storage finds it damaged. Such an
 * acceptor is replaced, under a new id (docs/ARCHITECTURE.md §3.5).
 */
import { type AcceptorStorage, type Loaded, type NodeIdentity, StorageDamaged } from "./storage.ts";

/** The node refused its data directory. */
export class IdentityRefused extends Error {
  override readonly name = "IdentityRefused";
  constructor(
    readonly reason: "noIdentity" | "stateWithoutIdentity" | "mismatch" | "damaged",
    message: string,
  ) {
    super(message);
  }
}

/** The refusal of a data directory whose storage is damaged: what was found, and what to do. */
export function damagedRefusal(e: StorageDamaged): IdentityRefused {
  return new IdentityRefused(
    "damaged",
    `the data directory is damaged: ${e.message}. It may have forgotten promises and accepted values, which could let a ` +
      "second value be chosen, so it must not rejoin under its old id: replace it with a new id ('worm node --join', then 'worm cluster replace') " +
      "(keep the directory for inspection)",
  );
}

/** Refuse `identity` (what the directory holds) unless it is `want` (what the node is configured as). */
export function checkIdentity(identity: NodeIdentity | undefined, want: { readonly clusterId: string; readonly acceptorId: number }): asserts identity is NodeIdentity {
  if (!identity) {
    throw new IdentityRefused(
      "noIdentity",
      `the data directory holds no acceptor state for acceptor ${want.acceptorId} of cluster ${want.clusterId}. ` +
        "If this is a new acceptor, start it once with init. If this acceptor's data was lost or wiped, it must not " +
        "rejoin under its old id: it forgot its promises and accepted values, which could let a second value be " +
        "chosen; replace it with a new id ('worm node --join', then 'worm cluster replace').",
    );
  }
  if (identity.clusterId !== want.clusterId || identity.acceptorId !== want.acceptorId) {
    throw new IdentityRefused(
      "mismatch",
      `the data directory belongs to acceptor ${identity.acceptorId} of cluster ${identity.clusterId}, ` +
        `but this node is configured as acceptor ${want.acceptorId} of cluster ${want.clusterId}`,
    );
  }
}

/**
 * Load a node's storage; a directory with no identity is initialised when the node is told to
 * (`init`; `join`: as a replacement that serves only its installer until activated), never when
 * it holds state. Storage damage is refused.
 */
export async function loadIdentity(o: {
  readonly storage: AcceptorStorage;
  readonly identity: { readonly clusterId: string; readonly acceptorId: number };
  readonly init?: boolean;
  readonly join?: boolean;
  readonly now?: () => Date;
}): Promise<Loaded> {
  let loaded: Loaded;
  try {
    loaded = await o.storage.load();
  } catch (e) {
    throw e instanceof StorageDamaged ? damagedRefusal(e) : e;
  }
  if (loaded.identity || !o.init) return loaded;
  if (loaded.mutations.length > 0) throw new IdentityRefused("stateWithoutIdentity", "the data directory holds acceptor state but no identity; refusing to adopt it");
  const created: NodeIdentity = { ...o.identity, createdAt: (o.now?.() ?? new Date()).toISOString(), ...(o.join ? { joining: true } : {}) };
  await o.storage.writeIdentity(created);
  return { identity: created, mutations: [] };
}
