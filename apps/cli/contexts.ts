/**
 * Which cluster a client command uses when it names none, and the saved contexts behind it (like
 * nats contexts). In order: `--cluster FILE` or `--peers` (the flags always win), then the
 * `WORM_CLUSTER` environment variable (a cluster file), then the context chosen with `worm context
 * use NAME`. Relative paths are the caller's: resolved against the working directory where they are
 * given, stored absolute in a context.
 *
 * Contexts live in the configuration directory: `$WORM_CONFIG_DIR`, else `$XDG_CONFIG_HOME/worm`,
 * else `~/.config/worm`; `contexts/NAME.json` holds `{"cluster": "/absolute/path/cluster.json"}`
 * and `context.txt` the name in use.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { NAME_GRAMMAR, isName } from "../../paxos/limits.ts";
import { operational, usage } from "./errors.ts";

const CONTEXT_LIMITS = Object.freeze({
  /** Bytes of a context file or of context.txt read at most. */
  fileBytesMax: 64 * 1024,
});

/** Where the cluster came from, for `-v` and for messages. */
export type ClusterSource =
  | { readonly kind: "flag"; readonly file: string }
  | { readonly kind: "env"; readonly file: string }
  | { readonly kind: "context"; readonly name: string; readonly file: string };

export const configDir = (): string => process.env.WORM_CONFIG_DIR ?? join(process.env.XDG_CONFIG_HOME ?? join(homedir(), ".config"), "worm");
const contextsDir = () => join(configDir(), "contexts");
const contextFile = (name: string) => join(contextsDir(), `${name}.json`);
const currentFile = () => join(configDir(), "context.txt");

export function describeSource(s: ClusterSource): string {
  if (s.kind === "flag") return `--cluster ${s.file}`;
  if (s.kind === "env") return `WORM_CLUSTER=${s.file}`;
  return `context ${s.name}: ${s.file}`;
}

/** A context name, or a bad-input failure. */
export function checkContextName(name: string): string {
  if (!isName(name)) throw usage(`invalid context name ${JSON.stringify(name)}: ${NAME_GRAMMAR}`);
  return name;
}

async function readSmall(path: string): Promise<string | undefined> {
  try {
    const text = await readFile(path, "utf8");
    if (text.length > CONTEXT_LIMITS.fileBytesMax) throw operational(`${path} is larger than ${CONTEXT_LIMITS.fileBytesMax} bytes: not a worm context file`);
    return text;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

/** The cluster file of context `name`, or undefined when there is no such context. */
export async function contextCluster(name: string): Promise<string | undefined> {
  const text = await readSmall(contextFile(name));
  if (text === undefined) return undefined;
  let cluster: unknown;
  try {
    cluster = (JSON.parse(text) as { cluster?: unknown }).cluster;
  } catch {
    cluster = undefined;
  }
  if (typeof cluster !== "string" || cluster.length === 0) throw usage(`context ${name} is damaged (${contextFile(name)}): save it again with 'worm context save ${name} FILE'`);
  return cluster;
}

/** The context in use (`worm context use`), if any. */
export async function currentContext(): Promise<string | undefined> {
  const name = (await readSmall(currentFile()))?.trim();
  return name ? name : undefined;
}

/** Every saved context, by name. */
export async function listContexts(): Promise<{ name: string; cluster: string }[]> {
  if (!existsSync(contextsDir())) return [];
  const names = (await readdir(contextsDir()))
    .filter((f) => f.endsWith(".json"))
    .map((f) => f.slice(0, -".json".length))
    .filter(isName)
    .sort();
  const out: { name: string; cluster: string }[] = [];
  for (const name of names) {
    const cluster = await contextCluster(name);
    if (cluster !== undefined) out.push({ name, cluster });
  }
  return out;
}

async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

/** Save (or replace) context `name` naming the cluster file `file` (made absolute); true if it replaced one. */
export async function saveContext(name: string, file: string): Promise<boolean> {
  const existed = (await contextCluster(name)) !== undefined;
  await mkdir(contextsDir(), { recursive: true });
  await writeAtomic(contextFile(name), `${JSON.stringify({ cluster: resolve(file) })}\n`);
  return existed;
}

export async function useContext(name: string): Promise<void> {
  await mkdir(configDir(), { recursive: true });
  await writeAtomic(currentFile(), `${name}\n`);
}

/** Remove context `name` (and stop using it, if it was the one in use); false when there was none. */
export async function removeContext(name: string): Promise<boolean> {
  if ((await contextCluster(name)) === undefined) return false;
  await rm(contextFile(name), { force: true });
  if ((await currentContext()) === name) await rm(currentFile(), { force: true });
  return true;
}

/** The cluster file a command uses when neither --cluster nor --peers was given, or undefined. */
export async function defaultCluster(): Promise<ClusterSource | undefined> {
  const env = process.env.WORM_CLUSTER;
  if (env !== undefined && env.length > 0) return { kind: "env", file: resolve(env) };
  const name = await currentContext();
  if (name === undefined) return undefined;
  const file = await contextCluster(name);
  if (file === undefined) throw usage(`the context in use, ${name}, does not exist: 'worm context use' another, or 'worm context save ${name} FILE'`);
  return { kind: "context", name, file };
}

export const NO_CLUSTER = "which cluster? give --cluster FILE or --peers host:port,..., set WORM_CLUSTER=FILE, or save one with 'worm context save NAME FILE' and 'worm context use NAME'";
