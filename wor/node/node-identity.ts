/**
 * Whose data directory this is (docs/ARCHITECTURE.md §3.3, wor/README.md "A wiped acceptor does not
 * rejoin"): the refusals of a directory that is not this acceptor's, or is damaged.
 */
import type { NodeIdentity, StorageDamaged } from "./storage.ts";

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
      "second value be chosen, so it must not rejoin under its old id: replace it through reconfiguration with a new id " +
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
        "chosen; replace it through reconfiguration with a new id.",
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
