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
  /** Log sequencers "host:port" (normalised), in failover order. */
  readonly sequencers?: readonly string[];
  readonly tls?: ClusterTlsPaths;
  readonly token?: string;
}

export type ConfigResult = { readonly ok: true; readonly value: ClusterConfig } | { readonly ok: false; readonly errors: readonly string[] };

export class ClusterConfigError extends Error {
  override readonly name = "ClusterConfigError";
  constructor(readonly errors: readonly string[]) {
    super(`invalid cluster file:\n  ${errors.join("\n  ")}`);
  }
}

const KNOWN = new Set(["clusterId", "segmentSize", "quorum", "acceptors", "epoch", "sequencers", "tls", "token"]);

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
  const acceptors = parseAcceptors(raw.acceptors, errors);

  let quorum = acceptors.length > 0 ? majority(acceptors.length) : 0;
  if (raw.quorum !== undefined) {
    if (typeof raw.quorum !== "number" || !Number.isInteger(raw.quorum) || raw.quorum < 1) {
      errors.push(`quorum: must be a positive integer (got ${JSON.stringify(raw.quorum)})`);
    } else if (acceptors.length > 0 && !isValidQuorum(raw.quorum, acceptors.length)) {
      errors.push(
        `quorum: ${raw.quorum} of ${acceptors.length} acceptors is unsafe or unreachable: two quorums must share an acceptor ` +
          `(quorum > ${Math.floor(acceptors.length / 2)}) and a quorum must exist (quorum ≤ ${acceptors.length})`,
      );
    } else {
      quorum = raw.quorum;
    }
  }
  const epoch = raw.epoch ?? 0;
  if (typeof epoch !== "number" || !Number.isSafeInteger(epoch) || epoch < 0) errors.push(`epoch: must be a non-negative integer (got ${JSON.stringify(raw.epoch)})`);
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
    epoch: epoch as number,
    ...(sequencers ? { sequencers } : {}),
    ...(tls ? { tls } : {}),
    ...(token ? { token } : {}),
  };
  return { ok: true, value };
}

function parseAcceptors(raw: unknown, errors: string[]): AcceptorEntry[] {
  if (!Array.isArray(raw) || raw.length === 0) {
    errors.push("acceptors: required, a non-empty array of { id, address, dataDir? }");
    return [];
  }
  if (raw.length > CLUSTER_LIMITS.acceptorsMax) errors.push(`acceptors: at most ${CLUSTER_LIMITS.acceptorsMax} (got ${raw.length})`);
  const out: AcceptorEntry[] = [];
  const ids = new Map<number, number>();
  const addresses = new Map<string, number>();
  raw.forEach((a: unknown, k) => {
    const at = `acceptors[${k}]`;
    if (!isObject(a)) {
      errors.push(`${at}: must be an object { id, address, dataDir? }`);
      return;
    }
    for (const key of Object.keys(a)) if (key !== "id" && key !== "address" && key !== "dataDir") errors.push(`${at}.${key}: unknown field`);
    const id = a.id;
    const idOk = typeof id === "number" && Number.isSafeInteger(id) && id >= 0 && id <= CLUSTER_LIMITS.acceptorIdMax;
    if (!idOk) errors.push(`${at}.id: must be an integer from 0 to ${CLUSTER_LIMITS.acceptorIdMax} (got ${JSON.stringify(id)})`);
    else if (ids.has(id)) errors.push(`${at}.id: ${id} is also the id of acceptors[${ids.get(id)}]`);
    const addr = parseAddress(a.address);
    if (typeof addr === "string") errors.push(`${at}.address: ${addr}`);
    else if (addresses.has(addr.address)) errors.push(`${at}.address: ${addr.address} is also the address of acceptors[${addresses.get(addr.address)}]`);
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
 * Rewrite the cluster file at `path` for configuration `c` (after a reconfiguration): its acceptors, in
 * slot order, keep their other fields (a new one gets `dataDir` when given), `epoch` and `quorum` are c's; every
 * other field stays. Written to a temporary file and renamed, so a reader never sees half of it.
 */
export async function rewriteClusterFile(path: string, c: Configuration, dataDirs: ReadonlyMap<number, string> = new Map()): Promise<void> {
  const raw = JSON.parse(await readFile(path, "utf8")) as Record<string, unknown> & { acceptors?: { id?: unknown }[] };
  const before = new Map((raw.acceptors ?? []).map((a) => [a.id, a] as const));
  raw.acceptors = c.acceptors.map((m) => {
    const kept = before.get(m.id) as Record<string, unknown> | undefined;
    const dataDir = dataDirs.get(m.id);
    return { ...(kept ?? {}), id: m.id, address: m.address, ...(dataDir ? { dataDir } : {}) };
  });
  raw.epoch = c.epoch;
  raw.quorum = c.quorum;
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(raw, null, 2)}\n`);
  await rename(temp, path);
}

/** The configuration a cluster file names (its epoch, acceptors in slot order, quorum). */
export const configurationOf = (config: ClusterConfig): Configuration => ({ epoch: config.epoch, quorum: config.quorum, acceptors: config.acceptors.map((a) => ({ id: a.id, address: a.address })) });

/** The acceptor entry for `id`, or undefined. */
export const acceptorOf = (config: ClusterConfig, id: number): AcceptorEntry | undefined => config.acceptors.find((a) => a.id === id);
