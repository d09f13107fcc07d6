/**
 * What a classic-level store's `load` reads (storage-level.ts): the batch markers, the resident
 * entries (identity, spaces, trim marks, range promises) and the cleared marks, never an address,
 * so that a restart takes the same time whatever the store holds; and the checks made on them
 * (witness, markers, format, the digest of the resident entries).
 */
import type { ClassicLevel } from "classic-level";
import type { Mutation, RangePromise } from "../../paxos/messages.ts";
import { assert } from "../../verify/runtime/assert.ts";
import { readDamageMark } from "./damage-mark.ts";
import { decodePair, decodeRanges, readUint, sealOf, unseal } from "./storage-codec.ts";
import { Digest } from "./storage-digest.ts";
import { FORMAT, IDENTITY_KEY, asDamage, describeKey } from "./storage-keys.ts";
import { type NodeIdentity, type SpaceCounts, StorageDamaged, assertLoadedState, decodeIdentity, replay } from "./storage.ts";
import { WITNESS_FILE, type WitnessRead, readWitness } from "./witness.ts";

/** The markers and resident entries of a store, in key order, every seal checked. */
interface Scan {
  entries: number;
  /** Entries read, of every kind (tests: a restart reads no address). */
  read: number;
  identity: NodeIdentity | undefined;
  readonly markers: { batch: number; payload: Uint8Array }[];
  readonly spaces: { space: string; counts: SpaceCounts }[];
  readonly marks: Map<string, number>;
  readonly cleared: Map<string, number>;
  readonly ranges: { space: string; ranges: RangePromise[] }[];
  /** The seal of every resident entry. */
  readonly seals: Map<string, number>;
}

/** A sound store's resident state, as `load` found it. */
export interface Resident {
  readonly identity: NodeIdentity | undefined;
  /** Spaces, trims and range promises, in load order. */
  readonly mutations: Mutation[];
  readonly digest: Digest;
  /** The last synced batch. */
  readonly batches: number;
  readonly spaces: readonly { space: string; counts: SpaceCounts }[];
  readonly marks: ReadonlyMap<string, number>;
  /** Per space, the mark below which its keys are known range-deleted (storage-level.ts `clearBelow`). */
  readonly cleared: ReadonlyMap<string, number>;
  readonly witnessed: WitnessRead;
  /** Entries read. */
  readonly read: number;
}

/** Read and check what a restart needs; rejects with StorageDamaged when the store is not what it acknowledged. */
export async function loadResident(db: ClassicLevel<string, Uint8Array>, dir: string): Promise<Resident> {
  const witnessed = await readWitness(dir);
  if (witnessed.kind === "damaged") throw new StorageDamaged(witnessed.why);
  const marked = await readDamageMark(dir);
  if (marked !== undefined) throw new StorageDamaged(marked);
  const scan = await scanResident(db);
  const [first, ...later] = scan.markers;
  if (later.length > 0) throw new StorageDamaged(`batch ${first!.batch + 1} is missing: the store holds batch ${first!.batch} and later batches up to ${later.at(-1)!.batch}`);
  if (first === undefined && scan.entries > 0) throw new StorageDamaged("the store holds acceptor state but no batch marker");
  const end = first?.batch ?? 0;
  if (witnessed.kind === "missing") {
    if (scan.entries > 0) throw new StorageDamaged(`its witness file ${WITNESS_FILE} is missing`);
  } else if (witnessed.batch > end) {
    throw new StorageDamaged(`batch ${witnessed.batch} was acknowledged but the store ${end === 0 ? "is empty" : `ends at batch ${end}`}`);
  }
  let recorded = 0;
  if (first) {
    if (first.payload.byteLength !== 16) throw new StorageDamaged("it was written in an older storage format (without block digests), which this version does not read");
    const [digest, format] = decodePair(first.payload);
    if (format !== FORMAT) throw new StorageDamaged(`it is in storage format ${format}; this version reads format ${FORMAT}`);
    recorded = digest;
  }
  const { mutations, digest } = rebuild(scan);
  if (digest.value !== recorded) {
    throw new StorageDamaged(`the store's entries do not match the digest batch ${end} recorded: an entry vanished or changed, or an older version of one came back`);
  }
  assertLoadedState(replay(mutations));
  return { identity: scan.identity, mutations, digest, batches: end, spaces: scan.spaces, marks: scan.marks, cleared: scan.cleared, witnessed, read: scan.read };
}

/** One pass over the markers and the resident entries: check each seal, sort the entries by kind. */
async function scanResident(db: ClassicLevel<string, Uint8Array>): Promise<Scan> {
  const scan: Scan = { entries: 0, read: 0, identity: undefined, markers: [], spaces: [], marks: new Map(), cleared: new Map(), ranges: [], seals: new Map() };
  try {
    for (const range of [{ gte: "b/", lt: "b0" }, { gte: "c/", lt: "c0" }, { gte: IDENTITY_KEY, lte: IDENTITY_KEY }, { gte: "r/", lt: "r0" }, { gte: "s/", lt: "s0" }, { gte: "t/", lt: "t0" }]) {
      for await (const [key, value] of db.iterator(range)) {
        scan.read++;
        const payload = unseal(key, value);
        if (key.startsWith("c/")) {
          // Outside the digest: a damaged one only means clearing again from the space's first key.
          if (payload !== undefined) scan.cleared.set(key.slice(2), readUint(payload, 0));
          continue;
        }
        if (payload === undefined) throw new StorageDamaged(`the stored value of ${describeKey(key)} fails its checksum`);
        const rest = key.slice(2);
        if (key.startsWith("b/")) {
          assert(/^[0-9a-f]{16}$/.test(rest), () => `malformed batch marker ${key}`);
          scan.markers.push({ batch: Number.parseInt(rest, 16), payload });
          continue;
        }
        scan.entries++;
        scan.seals.set(key, sealOf(value));
        if (key === IDENTITY_KEY) scan.identity = decodeIdentity(new TextDecoder().decode(payload));
        else if (key.startsWith("s/")) {
          const [addresses, highest] = payload.byteLength === 16 ? decodePair(payload) : [0, 0];
          scan.spaces.push({ space: rest, counts: { addresses, highestAccepted: highest - 1 } });
        } else if (key.startsWith("t/")) scan.marks.set(rest, readUint(payload, 0));
        else scan.ranges.push({ space: rest, ranges: decodeRanges(payload) });
      }
    }
  } catch (e) {
    throw asDamage(e, "LevelDB reports") ?? e;
  }
  return scan;
}

/** The load-order mutations (spaces, trims, ranges) and the digest of what a scan found. */
function rebuild(scan: Scan): { mutations: Mutation[]; digest: Digest } {
  const digest = new Digest();
  for (const [key, seal] of scan.seals) digest.put(key, seal);
  const mutations: Mutation[] = [];
  const spaces = new Set(scan.spaces.map((s) => s.space));
  const known = (space: string, what: string) => {
    if (!spaces.has(space)) throw new StorageDamaged(`${what} of space ${space} is stored, but the space is not`);
  };
  for (const { space } of scan.spaces) mutations.push({ kind: "space", space });
  for (const [space, mark] of scan.marks) {
    known(space, "the trim mark");
    if (mark > 0) mutations.push({ kind: "trim", space, mark });
  }
  for (const r of scan.ranges) {
    known(r.space, "the range promises");
    mutations.push({ kind: "ranges", space: r.space, ranges: r.ranges });
  }
  return { mutations, digest };
}

