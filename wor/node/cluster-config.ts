/**
 * The cluster file (docs/ARCHITECTURE.md §3.3): which acceptors exist, where they listen, the segment size,
 * the quorum, the optional log sequencers (in failover order), TLS files and cluster token. Parsed
 * from JSON with one clear message per bad field; every message names the field's path.
 *
 * {
 *   "clusterId": "prod-1",
 *   "segmentSize": 4096,
 *   "quorum": 2,                                   // default: a majority
 *   "acceptors": [{ "id": 1, "address": "127.0.0.1:7001", "dataDir": "data/a1" }, ...],
 *   "epoch": 1,                                    // optional: the configuration these acceptors are (§3.5)
 *   "groups": { "g1": { "acceptors": [...], "quorum": 2, "epoch": 0 } },  // optional: more acceptor groups (§3.6)
 *   "sequencers": ["127.0.0.1:7003"],              // optional: `worm log` uses them by default
 *   "tls": { "cert": "tls/node.pem", "key": "tls/node.key", "ca": "tls/ca.pem", "requireClientCert": true },
 *   "token": "..."
 * }
 * An address may be just a port ("7001" or ":7001"): the host defaults to 127.0.0.1 (loopback).
 */
import { readFile, rename, writeFile } from "node:fs/promises";
import type { Configuration } from "../core/configuration.ts";
import { dirname, resolve } from "node:path";
import { isValidQuorum, majority } from "../../paxos/quorum.ts";
import { parseAddress } from "../wire/address.ts";
import { NAME_GRAMMAR, isName } from "../../paxos/limits.ts";
import { GROUP_NAME } from "../core/space-meta.ts";

export const CLUSTER_LIMITS = Object.freeze({
  segmentSizeMax: 1 << 20,
  acceptorsMax: 15,
  acceptorIdMax: 2 ** 31 - 1,
  sequencersMax: 16,
});

export interface AcceptorEntry {
  readonly id: number;
  readonly host: string;
  readonly port: number;
  /** host:port, normalised. */
  readonly address: string;
  readonly dataDir?: string;
}

export interface ClusterTlsPaths {
  readonly cert?: string;
  readonly key?: string;
  readonly ca?: string;
  readonly requireClientCert: boolean;
}

export interface ClusterConfig {
  readonly clusterId: string;
  readonly segmentSize: number;
  readonly quorum: number;
  readonly acceptors: readonly AcceptorEntry[];
  /** The epoch of the configuration `acceptors` are (docs/ARCHITECTURE.md §3.5); 0 until a reconfiguration. */
  readonly epoch: number;
  /** Acceptor groups besides the main one (docs/ARCHITECTURE.md §3.6), by name; ids and addresses
   *  are unique across every group. */
  readonly groups?: readonly GroupEntry[];
  /** Log sequencers "host:port" (normalised), in failover order. */
  readonly sequencers?: readonly string[];
  readonly tls?: ClusterTlsPaths;
  readonly token?: string;
}

/** An acceptor group: its acceptors, its quorum and the epoch of its configuration. */
export interface GroupEntry {
  readonly name: string;
  readonly quorum: number;
  readonly epoch: number;
  readonly acceptors: readonly AcceptorEntry[];
}

export type ConfigResult = { readonly ok: true; readonly value: ClusterConfig } | { readonly ok: false; readonly errors: readonly string[] };

export class ClusterConfigError extends Error {
  override readonly name = "ClusterConfigError";
  constructor(readonly errors: readonly string[]) {
    super(`invalid cluster file:\n  ${errors.join("\n  ")}`);
  }
}

const KNOWN = new Set(["clusterId", "segmentSize", "quorum", "acceptors", "epoch", "groups", "sequencers", "tls", "token"]);

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
const isPowerOfTwo = (n: number) => Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0;

/** Validate a cluster file's text; every problem is reported, not just the first. */
export function parseClusterConfig(text: string): ConfigResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { ok: false, errors: [`not JSON: ${(e as Error).message}`] };
  }
  if (!isObject(raw)) return { ok: false, errors: ["the cluster file must be a JSON object"] };
  const errors: string[] = [];
  for (const key of Object.keys(raw)) if (!KNOWN.has(key)) errors.push(`${key}: unknown field`);

  const clusterId = raw.clusterId;
  if (typeof clusterId !== "string" || !isName(clusterId)) {
    errors.push(`clusterId: required, ${NAME_GRAMMAR}`);
  }
  const segmentSize = raw.segmentSize;
  if (typeof segmentSize !== "number" || !isPowerOfTwo(segmentSize) || segmentSize > CLUSTER_LIMITS.segmentSizeMax) {
    errors.push(`segmentSize: required, a power of two from 1 to ${CLUSTER_LIMITS.segmentSizeMax} (got ${JSON.stringify(segmentSize)})`);
  }
  const acceptors = parseAcceptors(raw.acceptors, "acceptors", errors);
  const quorum = parseQuorum(raw.quorum, acceptors.length, "quorum", errors);
  const epoch = parseEpoch(raw.epoch, "epoch", errors);
  const groups = parseGroups(raw.groups, acceptors, errors);
  const sequencers = parseSequencers(raw.sequencers, errors);
  const tls = parseTls(raw.tls, errors);
  let token: string | undefined;
  if (raw.token !== undefined) {
    if (typeof raw.token !== "string" || raw.token.length < 16 || /\s/.test(raw.token)) {
      errors.push("token: must be a string of at least 16 characters without whitespace");
    } else {
      token = raw.token;
    }
  }
  if (errors.length > 0) return { ok: false, errors };
  const value: ClusterConfig = {
    clusterId: clusterId as string,
    segmentSize: segmentSize as number,
    quorum,
    acceptors,
    epoch,
    ...(groups ? { groups } : {}),
    ...(sequencers ? { sequencers } : {}),
    ...(tls ? { tls } : {}),
    ...(token ? { token } : {}),
  };
  return { ok: true, value };
}

/** A quorum of `acceptors` (default: a majority), or 0 with an error. */
function parseQuorum(raw: unknown, acceptors: number, path: string, errors: string[]): number {
  if (raw === undefined) return acceptors > 0 ? majority(acceptors) : 0;
  if (typeof raw !== "number" || !Number.isInteger(raw) || raw < 1) {
    errors.push(`${path}: must be a positive integer (got ${JSON.stringify(raw)})`);
  } else if (acceptors > 0 && !isValidQuorum(raw, acceptors)) {
    errors.push(
      `${path}: ${raw} of ${acceptors} acceptors is unsafe or unreachable: two quorums must share an acceptor ` +
        `(quorum > ${Math.floor(acceptors / 2)}) and a quorum must exist (quorum ≤ ${acceptors})`,
    );
  } else {
    return raw;
  }
  return 0;
}

function parseEpoch(raw: unknown, path: string, errors: string[]): number {
  const epoch = raw ?? 0;
  if (typeof epoch === "number" && Number.isSafeInteger(epoch) && epoch >= 0) return epoch;
  errors.push(`${path}: must be a non-negative integer (got ${JSON.stringify(raw)})`);
  return 0;
}

/** The groups besides the main one: each `{ acceptors, quorum?, epoch? }` by name; an acceptor id or
 *  address in two groups is refused (an acceptor serves one group). */
function parseGroups(raw: unknown, main: readonly AcceptorEntry[], errors: string[]): GroupEntry[] | undefined {
  if (raw === undefined) return undefined;
  if (!isObject(raw) || Object.keys(raw).length === 0) {
    errors.push("groups: must be an object of groups by name, each { acceptors, quorum?, epoch? }");
    return undefined;
  }
  const seen = new Map<string, string>([...main.flatMap((a) => [[`id ${a.id}`, "acceptors"], [a.address, "acceptors"]] as const)]);
  const out: GroupEntry[] = [];
  for (const [name, g] of Object.entries(raw)) {
    const at = `groups.${name}`;
    if (!GROUP_NAME.test(name) || name === "main") errors.push(`${at}: a group's name is letters, digits, '-' and '_' (up to 32), other than "main"`);
    if (!isObject(g)) {
      errors.push(`${at}: must be an object { acceptors, quorum?, epoch? }`);
      continue;
    }
    for (const key of Object.keys(g)) if (!["acceptors", "quorum", "epoch"].includes(key)) errors.push(`${at}.${key}: unknown field`);
    const acceptors = parseAcceptors(g.acceptors, `${at}.acceptors`, errors);
    for (const a of acceptors) {
      for (const key of [`id ${a.id}`, a.address]) {
        const other = seen.get(key);
        if (other) errors.push(`${at}.acceptors: ${key} is also in ${other} (an acceptor serves one group)`);
        seen.set(key, `${at}.acceptors`);
      }
    }
    out.push({ name, acceptors, quorum: parseQuorum(g.quorum, acceptors.length, `${at}.quorum`, errors), epoch: parseEpoch(g.epoch, `${at}.epoch`, errors) });
  }
  return out;
}

function parseAcceptors(raw: unknown, path: string, errors: string[]): AcceptorEntry[] {
  if (!Array.isArray(raw) || raw.length === 0) {
    errors.push(`${path}: required, a non-empty array of { id, address, dataDir? }`);
    return [];
  }
  if (raw.length > CLUSTER_LIMITS.acceptorsMax) errors.push(`${path}: at most ${CLUSTER_LIMITS.acceptorsMax} (got ${raw.length})`);
  const out: AcceptorEntry[] = [];
  const ids = new Map<number, number>();
  const addresses = new Map<string, number>();
  raw.forEach((a: unknown, k) => {
    const at = `${path}[${k}]`;
    if (!isObject(a)) {
      errors.push(`${at}: must be an object { id, address, dataDir? }`);
      return;
    }
    for (const key of Object.keys(a)) if (key !== "id" && key !== "address" && key !== "dataDir") errors.push(`${at}.${key}: unknown field`);
    const id = a.id;
    const idOk = typeof id === "number" && Number.isSafeInteger(id) && id >= 0 && id <= CLUSTER_LIMITS.acceptorIdMax;
    if (!idOk) errors.push(`${at}.id: must be an integer from 0 to ${CLUSTER_LIMITS.acceptorIdMax} (got ${JSON.stringify(id)})`);
    else if (ids.has(id)) errors.push(`${at}.id: ${id} is also the id of ${path}[${ids.get(id)}]`);
    const addr = parseAddress(a.address);
    if (typeof addr === "string") errors.push(`${at}.address: ${addr}`);
    else if (addresses.has(addr.address)) errors.push(`${at}.address: ${addr.address} is also the address of ${path}[${addresses.get(addr.address)}]`);
    if (a.dataDir !== undefined && (typeof a.dataDir !== "string" || a.dataDir.length === 0)) errors.push(`${at}.dataDir: must be a non-empty path`);
    if (!idOk || typeof addr === "string") return;
    ids.set(id, k);
    addresses.set(addr.address, k);
    out.push({ id, ...addr, ...(typeof a.dataDir === "string" && a.dataDir ? { dataDir: a.dataDir } : {}) });
  });
  return out;
}

function parseSequencers(raw: unknown, errors: string[]): string[] | undefined {
  if (raw === undefined) return undefined;
  if (!Array.isArray(raw)) {
    errors.push('sequencers: must be an array of "host:port" addresses, in failover order');
    return undefined;
  }
  if (raw.length > CLUSTER_LIMITS.sequencersMax) errors.push(`sequencers: at most ${CLUSTER_LIMITS.sequencersMax} (got ${raw.length})`);
  const out: string[] = [];
  raw.forEach((r: unknown, k) => {
    const a = parseAddress(r);
    if (typeof a === "string") errors.push(`sequencers[${k}]: ${a}`);
    else if (out.includes(a.address)) errors.push(`sequencers[${k}]: ${a.address} appears twice`);
    else out.push(a.address);
  });
  return out;
}


function parseTls(raw: unknown, errors: string[]): ClusterTlsPaths | undefined {
  if (raw === undefined) return undefined;
  if (!isObject(raw)) {
    errors.push("tls: must be an object { cert, key, ca?, requireClientCert? }");
    return undefined;
  }
  const path = (name: "cert" | "key" | "ca"): string | undefined => {
    const v = raw[name];
    if (v === undefined) return undefined;
    if (typeof v === "string" && v.length > 0) return v;
    errors.push(`tls.${name}: must be a non-empty file path`);
    return undefined;
  };
  for (const key of Object.keys(raw)) if (!["cert", "key", "ca", "requireClientCert"].includes(key)) errors.push(`tls.${key}: unknown field`);
  const cert = path("cert");
  const key = path("key");
  const ca = path("ca");
  const requireClientCert = raw.requireClientCert ?? false;
  if (typeof requireClientCert !== "boolean") errors.push("tls.requireClientCert: must be true or false");
  if ((cert === undefined) !== (key === undefined)) errors.push("tls: cert and key go together");
  if (requireClientCert === true && ca === undefined) errors.push("tls.requireClientCert: needs tls.ca, the CA that signs client certificates");
  if (cert === undefined && ca === undefined) errors.push("tls: give cert and key (server) and/or ca (clients)");
  return { ...(cert ? { cert } : {}), ...(key ? { key } : {}), ...(ca ? { ca } : {}), requireClientCert: requireClientCert === true };
}

/** Parse or throw `ClusterConfigError` listing every problem. */
export function clusterConfigFromText(text: string): ClusterConfig {
  const r = parseClusterConfig(text);
  if (!r.ok) throw new ClusterConfigError(r.errors);
  return r.value;
}

/** Read a cluster file; relative paths in it (dataDir, tls) resolve against the file's folder. */
export async function loadClusterConfig(path: string): Promise<ClusterConfig> {
  const config = clusterConfigFromText(await readFile(path, "utf8"));
  const base = dirname(resolve(path));
  const abs = (p: string) => resolve(base, p);
  const t = config.tls;
  return {
    ...config,
    acceptors: config.acceptors.map((a) => (a.dataDir ? { ...a, dataDir: abs(a.dataDir) } : a)),
    ...(config.groups ? { groups: config.groups.map((g) => ({ ...g, acceptors: g.acceptors.map((a) => (a.dataDir ? { ...a, dataDir: abs(a.dataDir) } : a)) })) } : {}),
    ...(t ? { tls: { ...t, ...(t.cert ? { cert: abs(t.cert) } : {}), ...(t.key ? { key: abs(t.key) } : {}), ...(t.ca ? { ca: abs(t.ca) } : {}) } } : {}),
  };
}

/** The PEM bytes of the configured TLS files. */
export async function readTlsFiles(tls: ClusterTlsPaths): Promise<{ cert?: Uint8Array; key?: Uint8Array; ca?: Uint8Array }> {
  const read = async (p: string | undefined) => (p ? new Uint8Array(await readFile(p)) : undefined);
  const [cert, key, ca] = await Promise.all([read(tls.cert), read(tls.key), read(tls.ca)]);
  return { ...(cert ? { cert } : {}), ...(key ? { key } : {}), ...(ca ? { ca } : {}) };
}

/**
 * Rewrite the cluster file at `path` for configuration `c` of `group` (default: the main group's
 * acceptors) after a reconfiguration: its acceptors, in slot order, keep their other fields (a new
 * one gets `dataDir` when given), `epoch` and `quorum` are c's; every other field stays. Written to
 * a temporary file and renamed, so a reader never sees half of it.
 */
export async function rewriteClusterFile(path: string, c: Configuration, dataDirs: ReadonlyMap<number, string> = new Map(), group = "main"): Promise<void> {
  type Entries = Record<string, unknown> & { acceptors?: { id?: unknown }[] };
  const raw = JSON.parse(await readFile(path, "utf8")) as Entries & { groups?: Record<string, Entries> };
  const at = group === "main" ? raw : raw.groups?.[group];
  if (!at) throw new Error(`${path} names no group ${group}`);
  const before = new Map((at.acceptors ?? []).map((a) => [a.id, a] as const));
  at.acceptors = c.acceptors.map((m) => {
    const kept = before.get(m.id) as Record<string, unknown> | undefined;
    const dataDir = dataDirs.get(m.id);
    return { ...(kept ?? {}), id: m.id, address: m.address, ...(dataDir ? { dataDir } : {}) };
  });
  at.epoch = c.epoch;
  at.quorum = c.quorum;
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(raw, null, 2)}\n`);
  await rename(temp, path);
}

/** The acceptors of `group` ("main": the cluster file's own), with their quorum and epoch; undefined for a group it does not name. */
export function groupOf(config: ClusterConfig, group = "main"): Pick<GroupEntry, "acceptors" | "quorum" | "epoch"> | undefined {
  return group === "main" ? config : config.groups?.find((g) => g.name === group);
}

/** The configuration a cluster file names for `group` (its epoch, acceptors in slot order, quorum). */
export function configurationOf(config: ClusterConfig, group = "main"): Configuration {
  const g = groupOf(config, group);
  if (!g) throw new Error(`the cluster file names no group ${group} (its groups: ${["main", ...(config.groups ?? []).map((x) => x.name)].join(", ")})`);
  return { epoch: g.epoch, quorum: g.quorum, acceptors: g.acceptors.map((a) => ({ id: a.id, address: a.address })) };
}

/** The acceptor entry for `id`, in any group, or undefined. */
export const acceptorOf = (config: ClusterConfig, id: number): AcceptorEntry | undefined =>
  [config.acceptors, ...(config.groups ?? []).map((g) => g.acceptors)].flat().find((a) => a.id === id);
