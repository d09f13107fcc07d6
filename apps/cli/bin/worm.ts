#!/usr/bin/env -S node --import tsx
/** `worm`: the WormSpace command line (apps/cli/README.md). */
import * as grpc from "@grpc/grpc-js";
import { Command } from "effect/cli";
import { checkCommand } from "../check.ts";
import { devCommand } from "../dev.ts";
import { inspectCommand } from "../inspect.ts";
import { logCommand } from "../log.ts";
import { nodeCommand } from "../node.ts";
import { spaceCommand } from "../space.ts";
import { runCli } from "../run.ts";
import { worCommand } from "../wor.ts";

const VERSION = "0.1.0";

// grpc-js logs some failures (a port in use) on stderr itself; worm reports them in its one line.
// GRPC_VERBOSITY=DEBUG|INFO|ERROR still turns its logging on.
if (process.env.GRPC_VERBOSITY === undefined) grpc.setLogVerbosity(grpc.logVerbosity.NONE);

const worm = Command.make("worm").pipe(
  Command.withDescription("WormSpace: Paxos-backed write-once registers. Run a cluster, write and read registers, use shared logs, inspect acceptors, check the protocol."),
  Command.withSubcommands([devCommand, nodeCommand, inspectCommand, worCommand, spaceCommand, logCommand, checkCommand]),
);

runCli(worm, process.argv.slice(2), VERSION);
