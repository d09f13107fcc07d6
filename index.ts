/**
 * `wormspace-ts`: the package's public entry (README.md, "Library"). The register layer's client
 * over gRPC with its results and errors, cluster files, and the shared log. Each app also has an
 * entry of its own (`wormspace-ts/log`); `wormspace-ts/acceptor` runs an acceptor in this process.
 */
export { type Ballot, formatBallot } from "./paxos/ballot.ts";
export { LIMITS } from "./paxos/limits.ts";
export type { AllocResult, Capture, CaptureResult, CheckResult, CreateSpaceResult, FailureCode, ReadResult, RoundAccount, SpaceMetaResult, WorFailure, WriteResult } from "./wor/core/results.ts";
export { SPACE_KINDS, type SpaceKind, type SpaceMeta } from "./wor/core/space-meta.ts";
export { type CaptureOne, WorClient, type WorClientOptions, WorError } from "./wor/node/client.ts";
export { type AcceptorEntry, type ClusterConfig, ClusterConfigError, loadClusterConfig, parseClusterConfig } from "./wor/node/cluster-config.ts";
export type { ClientSecurity } from "./wor/node/credentials.ts";
export { type GrpcTransportOptions, grpcTransport } from "./wor/node/grpc-link.ts";
export type { AcceptorLink, LinkEvents, Transport } from "./wor/node/link.ts";
export { LogError, WormLog } from "./apps/log/index.ts";
