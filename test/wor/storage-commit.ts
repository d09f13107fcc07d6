/** One storage commit as a promise, for tests that drive a storage directly (the port takes a callback). */
import type { Receipt } from "../../paxos/held.ts";
import type { Mutation } from "../../paxos/messages.ts";
import type { AcceptorStorage } from "../../wor/node/storage.ts";

export function committed(storage: AcceptorStorage, batch: readonly Mutation[]): Promise<Receipt> {
  return new Promise((resolve, reject) => storage.commit(batch, (r) => (r instanceof Error ? reject(r) : resolve(r))));
}
