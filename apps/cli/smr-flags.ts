/** What the `worm smr` verbs share (smr.ts, smr-serve.ts): the SMR's name and the replica set. */
import { Argument, Flag } from "effect/cli";
import { parsePeers } from "./cluster.ts";

export const smrNameArg = Argument.String("name").pipe(Argument.withDescription("the replicated state machine (a space created with 'worm smr create')"));
export const replicasFlag = Flag.String("replicas").pipe(Flag.withDescription("the replicas' addresses host:port,..."));
export const replicaList = (text: string): string[] => parsePeers(text, "--replicas");
