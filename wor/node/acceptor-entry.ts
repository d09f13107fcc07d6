/**
 * `wormspace-ts/acceptor`: run an acceptor in this process (what `worm node` does): classic-level
 * storage under a data directory, served over gRPC (docs/ARCHITECTURE.md §3.3).
 */
export { AcceptorStartFailure, type AcceptorSpec, type RunningAcceptor, startAcceptor } from "./run-acceptor.ts";
export type { ServerTls } from "./grpc-server.ts";
export type { SessionBudgetLimits } from "./session-budget.ts";
