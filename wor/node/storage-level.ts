/**
 * Acceptor storage on classic-level (LevelDB), docs/ARCHITECTURE.md §3.3. Every write is `{ sync: true }`: a
 * commit resolves only after LevelDB fsynced its log, and only then is a receipt minted.
 *
 * Key layout (utf8 keys; fixed-width hex numbers so key order is numeric order):
 *   i                          this data directory's identity (JSON)
 *   b/<16 hex digits>          the batch marker: the last synced batch's number; its value, the digest
 *   s/<space>                  the space exists
 *   t/<space>                  trim mark
 *   r/<space>                  every range promise of the space, one value
 *   a/<space>/<16 hex digits>  one address's state
 * Values are storage-codec.ts's compact byte forms, each sealed with a CRC-32 of key and payload.
 * One space's keys never share a prefix with another's: user names hold no '/', and allocation
 * spaces are "$alloc/<name>", while '$' never starts a user name.
 *
 * Damage: `load` refuses (StorageDamaged) a store that is not what this storage acknowledged.
 * - Every synced write is a numbered batch: batch n puts marker n and deletes marker n - 1, so a sound
 *   store holds exactly one marker. LevelDB's log recovery silently drops a record that fails its
 *   checksum (with the rest of its 32 KB block); a dropped batch k leaves marker k - 1 undeleted
 *   beside a later one, so two markers mean a lost batch.
 * - After each synced batch its number goes to the witness (witness.ts), a file outside LevelDB; a
 *   store whose marker is below the witness lost acknowledged batches at its end (a truncated log,
 *   the store's files replaced by an older copy).
 * - Every value's seal is checked (LevelDB reads table blocks without verifying their checksums),
 *   and the seals of all live entries must add up to the digest the marker recorded
 *   (storage-digest.ts): an entry that vanished or an older version that came back is found too.
 *   A corruption LevelDB itself reports while loading is damage as well.
 * The check uses only what is stored, never LevelDB's info log (LOG): see wor/README.md.
 *
 * Trim: the batch holding the trim mark is written (synced) first; the address keys below the mark
 * are then range-deleted with `db.clear`, which LevelDB does not sync and which is not part of the
 * batch. A crash between the two leaves stale keys below the mark; `load` ignores them (and clears
 * them again), so nothing is lost and nothing below a trim mark comes back.
 */
import { type ChainedBatch, ClassicLevel } from "classic-level";
import { mintReceipt, type Receipt } from "../../paxos/held.ts";
import type { AddressState, Mutation, RangePromise } from "../../paxos/messages.ts";
import { assert } from "../../verify/runtime/assert.ts";
import { decodeAddress, decodeRanges, encodeAddress, encodeRanges, encodeUint, readUint, sealOf, sealed, unseal } from "./storage-codec.ts";
import { Digest } from "./storage-digest.ts";
import { type AcceptorStorage, type CommitDone, type Loaded, type NodeIdentity, StorageDamaged, assertLoadedState, decodeIdentity, encodeIdentity, replay } from "./storage.ts";
import { WITNESS_FILE, Witness, readWitness } from "./witness.ts";

type Db = ClassicLevel<string, Uint8Array>;
type Batch = ChainedBatch<Db, string, Uint8Array>;

const IDENTITY_KEY = "i";
const SYNC = { sync: true } as const;
const EMPTY = new Uint8Array(0);

const indexKey = (index: number): string => index.toString(16).padStart(16, "0");
export const addressKey = (space: string, index: number): string => `a/${space}/${indexKey(index)}`;
const markerKey = (batch: number) => `b/${indexKey(batch)}`;
const spaceKey = (space: string) => `s/${space}`;
const trimKey = (space: string) => `t/${space}`;
const rangesKey = (space: string) => `r/${space}`;
/** The keys strictly after every key starting with `prefix` ("/" + 1 = "0"). */
const prefixEnd = (prefix: string) => prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);

/** Everything one pass over the store found, in key order, every seal checked. */
interface Scan {
  entries: number;
  identity: NodeIdentity | undefined;
  readonly markers: { batch: number; digest: number }[];
  readonly spaces: string[];
  readonly marks: Map<string, number>;
  readonly ranges: { space: string; ranges: RangePromise[] }[];
  readonly addresses: { space: string; index: number; state: AddressState; seal: number }[];
  /** The seal of every entry but the markers and the addresses. */
  readonly seals: Map<string, number>;
}

export class LevelStorage implements AcceptorStorage {
  /** The number of the last synced batch (its marker is the store's one marker). */
  private batches = 0;
  /** Open from a successful `load` on; every write needs it. */
  private witness: Witness | undefined;
  /** The digest of the live entries as of the last batch (written into its marker). */
  private digest = new Digest();
  /** A write failed: the disk's state is unknown, and the digest may be ahead of it. */
  private failed = false;
  /** A batch is being written (batches are numbered in order: one at a time). */
  private writing = false;
  /** Synced batches written (for benchmarks). */
  commits = 0;

  private constructor(
    private readonly db: Db,
    private readonly dir: string,
  ) {}

  /** Open (creating if missing) the LevelDB directory `dir`; rejects with StorageDamaged if LevelDB finds it corrupt. */
  static async open(dir: string): Promise<LevelStorage> {
    const db: Db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: "utf8", valueEncoding: "view" });
    try {
      await db.open();
    } catch (e) {
      throw asDamage(e, "LevelDB cannot open it") ?? e;
    }
    return new LevelStorage(db, dir);
  }

  async load(): Promise<Loaded> {
    assert(this.witness === undefined, "storage loaded twice");
    const witnessed = await readWitness(this.dir);
    if (witnessed.kind === "damaged") throw new StorageDamaged(witnessed.why);
    const scan = await this.scan();
    const [first, ...later] = scan.markers;
    if (later.length > 0) throw new StorageDamaged(`batch ${first!.batch + 1} is missing: the store holds batch ${first!.batch} and later batches up to ${later.at(-1)!.batch}`);
    if (first === undefined && scan.entries > 0) throw new StorageDamaged("the store holds acceptor state but no batch marker");
    const end = first?.batch ?? 0;
    if (witnessed.kind === "missing") {
      if (scan.entries > 0) throw new StorageDamaged(`its witness file ${WITNESS_FILE} is missing`);
    } else if (witnessed.batch > end) {
      throw new StorageDamaged(`batch ${witnessed.batch} was acknowledged but the store ${end === 0 ? "is empty" : `ends at batch ${end}`}`);
    }

    const { mutations, digest, stale } = rebuild(scan);
    if (digest.value !== (first?.digest ?? 0)) {
      throw new StorageDamaged(`the store's entries do not match the digest batch ${end} recorded: an entry vanished or changed, or an older version of one came back`);
    }
    assertLoadedState(replay(mutations));

    this.batches = end;
    this.digest = digest;
    this.witness = witnessed.kind === "missing" ? await Witness.create(this.dir) : await Witness.open(this.dir);
    for (const space of stale) await this.clearBelow(space, scan.marks.get(space)!);
    return { identity: scan.identity, mutations };
  }

  commit(batch: readonly Mutation[], done: CommitDone): void {
    if (batch.length === 0) {
      done(mintReceipt(this.batches));
      return;
    }
    this.writeBatch(batch).then(done, (e: unknown) => done(e instanceof Error ? e : new Error(String(e))));
  }

  async writeIdentity(id: NodeIdentity): Promise<void> {
    await this.write((ops) => this.putEntry(ops, IDENTITY_KEY, sealed(IDENTITY_KEY, new TextEncoder().encode(encodeIdentity(id)))));
  }

  async close(): Promise<void> {
    try {
      await this.db.close();
    } finally {
      await this.witness?.close();
    }
  }

  /** Raw access for crash-simulation tests: write a batch of trims and addresses, without the clear. */
  async writeWithoutClear(batch: readonly Mutation[]): Promise<void> {
    await this.write((ops) => {
      for (const m of batch) {
        assert(m.kind === "trim" || m.kind === "address", "writeWithoutClear takes trims and addresses");
        this.put(ops, m);
      }
    });
  }

  /** Count the raw address keys of a space (tests: did the range delete happen?). */
  async countAddressKeys(space: string): Promise<number> {
    let n = 0;
    for await (const _ of this.db.keys({ gte: `a/${space}/`, lt: prefixEnd(`a/${space}/`) })) n++;
    return n;
  }

  /**
   * One synced LevelDB batch. Built as a chained batch: each put crosses into the binding once with
   * its key and value, where an array batch has the binding look up every op's fields by name.
   */
  private async writeBatch(batch: readonly Mutation[]): Promise<Receipt> {
    const trims: { space: string; mark: number }[] = [];
    const n = await this.write((ops) => {
      for (const m of batch) {
        if (m.kind === "trim") trims.push({ space: m.space, mark: m.mark });
        this.put(ops, m);
      }
    });
    this.commits++;
    const receipt = mintReceipt(n);
    for (const t of trims) await this.clearBelow(t.space, t.mark);
    return receipt;
  }

  /** Write the next numbered batch (synced) with its marker and digest, then record it in the witness; returns its number. */
  private async write(fill: (ops: Batch) => void): Promise<number> {
    const witness = this.witness;
    assert(witness !== undefined, "storage written before load");
    assert(!this.failed, "storage written after a failed write");
    assert(!this.writing, "one batch at a time");
    this.writing = true;
    const n = this.batches + 1;
    try {
      const ops = this.db.batch();
      fill(ops);
      const marker = markerKey(n);
      ops.put(marker, encodeUint(marker, this.digest.value));
      if (this.batches > 0) ops.del(markerKey(this.batches));
      await ops.write(SYNC);
    } catch (e) {
      this.failed = true;
      throw e;
    } finally {
      this.writing = false;
    }
    this.batches = n;
    witness.record(n);
    return n;
  }

  /** Add one mutation to a batch, and its entry to the digest. */
  private put(ops: Batch, m: Mutation): void {
    switch (m.kind) {
      case "space":
        this.putEntry(ops, spaceKey(m.space), sealed(spaceKey(m.space), EMPTY));
        break;
      case "address": {
        const key = addressKey(m.space, m.index);
        const value = encodeAddress(key, m.state);
        ops.put(key, value);
        this.digest.putAddress(m.space, m.index, sealOf(value));
        break;
      }
      case "ranges":
        if (m.ranges.length > 0) this.putEntry(ops, rangesKey(m.space), encodeRanges(rangesKey(m.space), m.ranges));
        else {
          ops.del(rangesKey(m.space));
          this.digest.del(rangesKey(m.space));
        }
        break;
      case "trim":
        this.putEntry(ops, trimKey(m.space), encodeUint(trimKey(m.space), m.mark));
        this.digest.trim(m.space, m.mark);
        break;
    }
  }

  private putEntry(ops: Batch, key: string, value: Uint8Array): void {
    ops.put(key, value);
    this.digest.put(key, sealOf(value));
  }

  /** Range-delete the address keys of `space` below `mark` (not synced; see the file comment). */
  private async clearBelow(space: string, mark: number): Promise<void> {
    await this.db.clear({ gte: `a/${space}/`, lt: addressKey(space, mark) });
  }

  /** One pass over every key: check each seal, sort the entries by kind. */
  private async scan(): Promise<Scan> {
    const scan: Scan = { entries: 0, identity: undefined, markers: [], spaces: [], marks: new Map(), ranges: [], addresses: [], seals: new Map() };
    try {
      for await (const [key, value] of this.db.iterator()) {
        scan.entries++;
        const payload = unseal(key, value);
        if (payload === undefined) throw new StorageDamaged(`the stored value of ${describeKey(key)} fails its checksum`);
        const seal = sealOf(value);
        const rest = key.slice(2);
        if (key === IDENTITY_KEY) {
          scan.identity = decodeIdentity(new TextDecoder().decode(payload));
          scan.seals.set(key, seal);
          continue;
        }
        switch (key.slice(0, 2)) {
          case "b/":
            assert(/^[0-9a-f]{16}$/.test(rest), () => `malformed batch marker ${key}`);
            scan.markers.push({ batch: Number.parseInt(rest, 16), digest: readUint(payload, 0) });
            break;
          case "s/":
            scan.spaces.push(rest);
            scan.seals.set(key, seal);
            break;
          case "t/":
            scan.marks.set(rest, readUint(payload, 0));
            scan.seals.set(key, seal);
            break;
          case "r/":
            scan.ranges.push({ space: rest, ranges: decodeRanges(payload) });
            scan.seals.set(key, seal);
            break;
          case "a/": {
            const index = Number.parseInt(key.slice(-16), 16);
            assert(key[key.length - 17] === "/" && Number.isSafeInteger(index), () => `malformed address key ${key}`);
            scan.addresses.push({ space: key.slice(2, -17), index, state: decodeAddress(payload), seal });
            break;
          }
          default:
            assert(false, () => `unknown key ${JSON.stringify(key)}`);
        }
      }
    } catch (e) {
      throw asDamage(e, "LevelDB reports") ?? e;
    }
    return scan;
  }
}

/**
 * The load-order mutations (spaces, trims, ranges, addresses) and the digest of what a scan found;
 * address keys below their space's trim mark are left out and their spaces named in `stale`.
 */
function rebuild(scan: Scan): { mutations: Mutation[]; digest: Digest; stale: Set<string> } {
  const digest = new Digest();
  for (const [key, seal] of scan.seals) digest.put(key, seal);
  const mutations: Mutation[] = [];
  const spaces = new Set(scan.spaces);
  const known = (space: string, what: string) => {
    if (!spaces.has(space)) throw new StorageDamaged(`${what} of space ${space} is stored, but the space is not`);
  };
  for (const space of scan.spaces) mutations.push({ kind: "space", space });
  for (const [space, mark] of scan.marks) {
    known(space, "the trim mark");
    if (mark > 0) mutations.push({ kind: "trim", space, mark });
  }
  for (const r of scan.ranges) {
    known(r.space, "the range promises");
    mutations.push({ kind: "ranges", space: r.space, ranges: r.ranges });
  }
  const stale = new Set<string>();
  for (const a of scan.addresses) {
    known(a.space, `address ${a.index}`);
    if (a.index < (scan.marks.get(a.space) ?? 0)) {
      stale.add(a.space); // left by a crash between a trim's batch and its range delete
      continue;
    }
    mutations.push({ kind: "address", space: a.space, index: a.index, state: a.state });
    digest.putAddress(a.space, a.index, a.seal);
  }
  return { mutations, digest, stale };
}

/** A key in the user's nouns (for damage reports). */
function describeKey(key: string): string {
  if (key === IDENTITY_KEY) return "the identity";
  const rest = key.slice(2);
  switch (key.slice(0, 2)) {
    case "a/":
      return `address ${Number.parseInt(key.slice(-16), 16)} of space ${key.slice(2, -17)}`;
    case "b/":
      return "the batch marker";
    case "s/":
      return `space ${rest}`;
    case "t/":
      return `the trim mark of space ${rest}`;
    case "r/":
      return `the range promises of space ${rest}`;
    default:
      return `key ${JSON.stringify(key)}`;
  }
}

/** A corruption LevelDB reported (on this error or its cause) as StorageDamaged; undefined otherwise. */
function asDamage(e: unknown, what: string): StorageDamaged | undefined {
  if (e instanceof StorageDamaged) return e;
  for (let c = e as { code?: unknown; message?: unknown; cause?: unknown } | undefined; c; c = c.cause as typeof c) {
    if (c.code === "LEVEL_CORRUPTION") return new StorageDamaged(`${what} ${String(c.message)}`);
  }
  return undefined;
}
