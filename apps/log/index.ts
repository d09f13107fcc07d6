/**
 * `wormspace-ts/log`: the shared log's public entry (apps/log/README.md). A `WormLog` appends through
 * a token source (a remote sequencer, or an embedded `SequencerNode` in single-writer mode) and reads,
 * tails, subscribes and trims over a `WorClient`.
 */
export type { Appended } from "./core/append.ts";
export type { IdempotencyKey, LogEntry, StreamLink } from "./core/entry.ts";
export type { SettledRead, SlotRead } from "./core/read.ts";
export type { LogFailure } from "./core/steps.ts";
export type { StreamEntry } from "./core/stream.ts";
export { type AppendOptions, WormLog, type WormLogOptions } from "./node/log-client.ts";
export { LogError } from "./node/log-error.ts";
export { REMOTE_TOKEN_DEFAULTS, type RemoteTokenOptions, RemoteTokenSource } from "./node/remote-tokens.ts";
export { SequencerNode, type SequencerNodeOptions } from "./node/sequencer-node.ts";
export { type SequencerServer, type SequencerServerOptions, startSequencerServer } from "./node/sequencer-server.ts";
export type { SubscribeOptions } from "./node/subscription.ts";
export type { TokenSource } from "./node/token-source.ts";
