/**
 * The `worm` program (bin/worm.ts runs it): picks the verb from the arguments, loads only that
 * verb's module (verbs.ts), and runs the command tree (run.ts). Without a verb (`worm`, `worm
 * --help`, `worm --version`, a misspelt verb) the tree holds every verb's name and description and
 * nothing else.
 */
import { Command } from "effect/cli";
import { hoistLeadingFlags } from "./leading-flags.ts";
import { NPM_SCRIPTS } from "./output.ts";
import { runCli } from "./run.ts";
import { VERBS, type Verb } from "./verbs.ts";

/** The package's version (a test checks it against package.json). */
export const VERSION = "0.1.0";

const DESCRIPTION = "WormSpace: Paxos-backed write-once registers. Run a cluster, write and read registers, use shared logs, inspect acceptors, check the protocol.";

// npm starts its scripts in the package's folder: worm goes back to the caller's, where relative paths are meant.
const callerDir = process.env.INIT_CWD;
if (callerDir !== undefined && NPM_SCRIPTS.has(process.env.npm_lifecycle_event ?? "")) process.chdir(callerDir);

// grpc-js logs some failures (a port in use) on stderr itself; worm reports them in its one line.
// GRPC_VERBOSITY=DEBUG|INFO|ERROR still turns its logging on.
process.env.GRPC_VERBOSITY ??= "NONE";
// Node warns (DEP0123) each time grpc-js dials an IP address over TLS, breaking worm's one line on stderr.
process.noDeprecation = true;

const argv = hoistLeadingFlags(process.argv.slice(2));
const named = VERBS.find((v) => v.name === argv.find((a) => !a.startsWith("-")));
const completions = argv.some((a) => a === "--completions" || a.startsWith("--completions="));

const load = async (v: Verb) => (await v.load()).pipe(Command.withDescription(v.description));
const stub = (v: Verb) => Command.make(v.name).pipe(Command.withDescription(v.description));
const verbs = completions ? await Promise.all(VERBS.map(load)) : named ? [await load(named)] : VERBS.map(stub);

runCli(Command.make("worm").pipe(Command.withDescription(DESCRIPTION), Command.withSubcommands(verbs)), argv, VERSION);
