/**
 * `wormspace-ts/smr`: the replicated state machine's public entry (apps/smr/README.md). Implement a
 * `Machine` (a `StateMachine` and its codecs; `mapMachine` is the example), run a `ReplicaNode`
 * per replica behind `startSmrServer`, and propose and read through any replica with `SmrClient`.
 */
export { type Codec, type Machine, SNAPSHOT_LIMITS, type SnapshotSink, type StateMachine } from "./core/machine.ts";
export { MAP_LIMITS, type MapCommand, type MapQuery, type MapValue, mapMachine } from "./core/map-machine.ts";
export { REPLICA_DEFAULTS, type ReplicaConfig, type ReplicaStatus, type SmrFailureCode } from "./core/messages.ts";
export { SMR_LIMITS } from "./core/records.ts";
export type { SmrStatusReport } from "./wire/codec.ts";
export { ReplicaNode, type ReplicaNodeOptions } from "./node/replica-node.ts";
export { type SmrServer, type SmrServerOptions, startSmrServer } from "./node/server.ts";
export { SmrClient, type SmrClientOptions, SmrError } from "./node/smr-client.ts";
