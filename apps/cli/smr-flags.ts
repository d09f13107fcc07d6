/** What the `worm smr` verbs share (smr.ts, smr-serve.ts): the SMR's name and the replica set. */
import * as Option from "effect/Option";
import { Argument, Flag } from "effect/cli";
import type { ClientSecurity } from "../../wor/node/credentials.ts";
import { type SecurityInput, parsePeers, resolveSecurity, securityFlags } from "./cluster.ts";
import { usage } from "./errors.ts";

export const smrNameArg = Argument.String("name").pipe(Argument.withDescription("the replicated state machine (a space created with 'worm smr create')"));
export const replicasFlag = Flag.String("replicas").pipe(Flag.withDescription("the replicas' addresses host:port,..."));
export const replicaList = (text: string): string[] => parsePeers(text, "--replicas");

/**
 * How propose, read and status reach the replicas: their addresses (`--replicas`), and the cluster
 * file's TLS and token (`--cluster`; or `--tls-ca`, `--tls-cert`, `--tls-key`, `--token`), which
 * the replicas serve with and check: 'worm smr serve' serves with its cluster's certificate and
 * token, as a LogPlayer shard does. `--peers` (acceptors' addresses, for the other verbs) and etcdctl's
 * `--endpoints` are taken, hidden, only to be refused naming `--replicas`; `--replicas` is checked
 * here too, so that a missing one is told where the addresses come from.
 */
export const replicaFlags = {
  replicas: Flag.optional(replicasFlag),
  ...securityFlags,
  cluster: Flag.optional(Flag.String("cluster").pipe(Flag.withDescription("cluster file whose TLS and token the replicas serve with (default: $WORM_CLUSTER, else the context in use)"))),
  peers: Flag.optional(Flag.String("peers").pipe(Flag.withHidden)),
  endpoints: Flag.optional(Flag.String("endpoints").pipe(Flag.withHidden)),
};

export interface ReplicaFlagsInput extends SecurityInput {
  readonly replicas: Option.Option<string>;
  readonly peers: Option.Option<string>;
  readonly endpoints: Option.Option<string>;
}

/** The replicas' addresses and the TLS and token for them, from `replicaFlags` given to `worm smr <verb>`. */
export async function resolveReplicas(verb: string, f: ReplicaFlagsInput): Promise<{ readonly replicas: string[]; readonly security: ClientSecurity }> {
  const addresses = "--replicas host:port,... (the list 'worm smr serve' was given)";
  const wrong = Option.isSome(f.peers) ? "--peers (acceptors' addresses: the replicas reach the acceptors themselves)" : Option.isSome(f.endpoints) ? "--endpoints" : undefined;
  if (wrong) throw usage(`'worm smr ${verb}' takes the replicas' addresses as ${addresses}, not ${wrong}`);
  if (Option.isNone(f.replicas)) throw usage(`'worm smr ${verb}' needs the replicas' addresses: ${addresses}; 'worm inspect' shows each SMR's replicas`);
  const replicas = replicaList(f.replicas.value);
  const { security } = await resolveSecurity(f);
  return { replicas, security };
}
