/**
 * The session's frames as domain types: what travels, batched, in one envelope of the acceptor's
 * bidirectional stream (docs/ARCHITECTURE.md §3.3). Codecs (wor/wire/codec.ts) turn bytes into these after
 * validation; nothing past the codec sees raw protobuf.
 */
import type { Ballot } from "../../paxos/ballot.ts";
import type { Reply, Request, SpaceName } from "../../paxos/messages.ts";
import type { CodecError } from "../../proto/codec-kernel.ts";

/** Client → acceptor. `id` correlates the replies; it is chosen by the client and unique per session. */
export type ClientFrame =
  | { readonly id: number; readonly kind: "request"; readonly request: Request }
  /** Push every value this acceptor learns is chosen in `space` at index ≥ from (existing ones first),
   *  and every value it accepts there from now on. */
  /** Watch `space` from `from`; with `skipOwn`, values this session writes are not pushed to it
   *  (wor/node/node-replies.ts). */
  | { readonly id: number; readonly kind: "watch"; readonly space: SpaceName; readonly from: number; readonly skipOwn?: boolean }
  | { readonly id: number; readonly kind: "unwatch"; readonly watchId: number };

/** Acceptor → client. */
export type ServerFrame =
  | { readonly id: number; readonly kind: "reply"; readonly reply: Reply }
  /** A value learned as chosen (this acceptor saw its commit at `ballot`) for the watch whose frame
   *  id is `id`. `value` is undefined when this acceptor already pushed that watch the value as
   *  accepted at `ballot`: the watcher resolves it against that push (wor/core/quorum-learner.ts). */
  | { readonly id: number; readonly kind: "learned"; readonly space: SpaceName; readonly index: number; readonly ballot: Ballot; readonly value: Uint8Array | undefined }
  /** A value this acceptor accepted (durably) at `ballot`, for the watch whose frame id is `id`:
   *  chosen once a quorum of acceptors says so for one ballot (wor/core/quorum-learner.ts). */
  | { readonly id: number; readonly kind: "accepted"; readonly space: SpaceName; readonly index: number; readonly ballot: Ballot; readonly value: Uint8Array };

/** A frame that failed validation keeps its id (when it could be read) so the node can answer it. */
export type DecodedClientFrame = ClientFrame | { readonly id: number; readonly kind: "invalid"; readonly error: CodecError };
