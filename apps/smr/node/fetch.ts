/**
 * Fetching a snapshot from the replica that holds it (docs/ARCHITECTURE.md §4.2): one FetchSnapshot
 * stream; chunks are handed on one at a time as they arrive, and HTTP/2 flow control holds the
 * holder back while this side is busy (a snapshot larger than memory streams through). A holder
 * that sends nothing for `idleMsMax` is given up on.
 */
import { type ClientSecurity, callMetadata } from "../../../wor/node/credentials.ts";
import { decodeChunk, encodeFetchRequest } from "../wire/codec.ts";
import { replicaStub } from "./smr-channels.ts";

const FETCH_LIMITS = Object.freeze({ idleMsMax: 15_000 });

/** Stream the snapshot of `position` from `holder` into `chunk`; rejects with why it failed. */
export async function fetchSnapshot(smr: string, holder: string, position: number, chunk: (bytes: Uint8Array) => void, security: ClientSecurity = {}): Promise<void> {
  const client = replicaStub(holder, security);
  const call = client.fetchSnapshot(callMetadata(security));
  let idle: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(idle);
    idle = setTimeout(() => call.cancel(), FETCH_LIMITS.idleMsMax);
  };
  try {
    call.end(encodeFetchRequest(smr, position));
    arm();
    for await (const bytes of call as AsyncIterable<Uint8Array>) {
      arm();
      const c = decodeChunk(bytes);
      if (!c.ok) throw new Error(`a snapshot chunk from ${holder}: ${c.error.message}`);
      chunk(c.value);
    }
  } finally {
    clearTimeout(idle);
    call.cancel();
    client.close();
  }
}
