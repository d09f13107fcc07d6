/** One storage commit as a promise, for tests that drive a storage directly (the port takes a callback). */
import type { Receipt } from "../../paxos/held.ts";
import type { AddressState, Mutation } from "../../paxos/messages.ts";
import type { AcceptorStorage } from "../../wor/node/storage.ts";

export function committed(storage: AcceptorStorage, batch: readonly Mutation[]): Promise<Receipt> {
  return new Promise((resolve, reject) => storage.commit(batch, (r) => (r instanceof Error ? reject(r) : resolve(r))));
}

/** One storage read as a promise: the addresses with state in [from, to) (whole blocks), by index. */
export function readBack(storage: AcceptorStorage, space: string, from: number, to: number): Promise<Map<number, AddressState>> {
  return new Promise((resolve, reject) =>
    storage.read(space, from, to, Number.POSITIVE_INFINITY, (r) => {
      if (r instanceof Error) reject(r);
      else if (r.kind === "tooLarge") reject(new Error("tooLarge"));
      else resolve(new Map(r.addresses.map((a) => [a.index, a.state])));
    }),
  );
}
