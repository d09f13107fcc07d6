/**
 * The acceptor's durable storage, as a port (docs/ARCHITECTURE.md §3.3, §7.8): a memory implementation
 * (storage-memory.ts) for tests and the in-memory transport, a classic-level one (storage-level.ts)
 * for real nodes. Both obey the same contract:
 *
 * - `commit(batch, done)` makes every mutation of `batch` durable (fsynced), in order, and only then
 *   calls `done` with a `Receipt` minted by `mintReceipt` (paxos/held.ts); or calls it with an Error
 *   when the write failed, which leaves the disk in an unknown state: the caller must treat it as
 *   fatal (group-commit.ts does). `done` runs exactly once, and for a batch with mutations never
 *   before `commit` returned. The port is a callback, not a promise, so that one group commit runs
 *   unchanged on a real disk and on the simulator's virtual time (verify/sim/kernel/sim-storage.ts), which
 *   must complete a commit inside one simulated event, with no microtask in between.
 * - `commit([], done)` writes nothing and may call `done` at once with a receipt: with nothing
 *   pending, everything handed over before is already durable.
 * - Commits are handed over one at a time: the next only after the previous one's `done`.
 * - `load()` returns the identity and the mutations that rebuild what the node keeps resident:
 *   every `space` mutation first, then trims and range promises; never an address (those are read
 *   when a request touches them). It takes time independent of how many addresses are stored. It
 *   rejects with `StorageDamaged`, before writing anything itself, when the durable state is not
 *   what the storage acknowledged (it lost a batch, or a stored value changed): an acceptor that
 *   forgot a promise or an accepted value must not serve. `load` comes before any write or read.
 * - `read(space, from, to, bytesMax, done)` reads the durable state of the addresses of `space` in
 *   [from, to) (whole blocks of `blockSize` addresses) that hold state, at or above the space's trim
 *   mark, in index order, checking them as it goes; `done` gets them, or `tooLarge` when the range
 *   spans more than one block and its addresses weigh more than `bytesMax` (`storedBytes`), or an
 *   Error (a `StorageDamaged` naming what is damaged, or a failed read: fatal either way). Like
 *   `commit` it is a callback, completed after `read` returned. The caller never reads a block
 *   whose mutations are not all durable (the node holds such blocks in memory: they are pinned).
 * - `evicted(space, block)` tells the storage that the node dropped a block from memory (it may
 *   forget what it kept for it); `summary(space)` counts what is durable (for status).
 * - `writeIdentity` durably records which acceptor of which cluster this data directory belongs to
 *   (and the configuration it was last told of); never while a commit is in flight.
 * - `blocksWithState(space, fromBlock, max)` lists, in order, up to `max` blocks of `space` from
 *   `fromBlock` on that hold durable state (a reconfiguration copies them).
 */
import { type AcceptorState, applyMutation, emptyAcceptor, forEachOwn } from "../../paxos/acceptor.ts";
import type { Receipt } from "../../paxos/held.ts";
import type { AddressState, Mutation, SpaceName } from "../../paxos/messages.ts";
import { assert } from "../../verify/runtime/assert.ts";
import { type Configuration, decodeConfiguration, encodeConfiguration } from "../core/configuration.ts";

/**
 * Which acceptor of which cluster a data directory belongs to, written when it is initialised; and
 * the newest configuration it was told of (docs/ARCHITECTURE.md §3.5; none: the cluster file's, epoch
 * 0), rewritten by each reconfiguration that reaches it. A **joining** acceptor (a replacement being
 * brought up to date) serves only its installer until it is activated.
 */
export interface NodeIdentity {
  readonly clusterId: string;
  readonly acceptorId: number;
  /** ISO-8601 time of initialisation. */
  readonly createdAt: string;
  readonly configuration?: Configuration;
  readonly joining?: boolean;
}

export interface Loaded {
  readonly identity: NodeIdentity | undefined;
  /** Spaces, trims and range promises (no addresses). */
  readonly mutations: Mutation[];
}

/** One stored address, as `read` returns it. */
export interface StoredAddress {
  readonly index: number;
  readonly state: AddressState;
}

export type ReadResult = { readonly kind: "read"; readonly addresses: readonly StoredAddress[] } | { readonly kind: "tooLarge" };
/** The end of one read: what it found, or the error (damage, a failed read) that stops the node. */
export type ReadDone = (result: ReadResult | Error) => void;

/** What status reports of one space: its durable addresses with state, and the highest with a value (-1: none). */
export interface SpaceCounts {
  readonly addresses: number;
  readonly highestAccepted: number;
}

/** Addresses per block in the classic-level format (storage-level.ts), and the memory storages' default. */
export const BLOCK_SIZE = 64;

/** Per-address bytes `read` counts against `bytesMax` besides the value (what a report of it costs in a reply). */
const ADDRESS_BYTES = 64;
export const storedBytes = (s: AddressState): number => ADDRESS_BYTES + (s.accepted?.value.byteLength ?? 0);

/** The end of one commit: its receipt, or the error that made the disk's state unknown. */
export type CommitDone = (result: Receipt | Error) => void;

export interface AcceptorStorage {
  /** Addresses per block: the unit the node reads, caches and evicts, and the storage checks. */
  readonly blockSize: number;
  load(): Promise<Loaded>;
  read(space: SpaceName, from: number, to: number, bytesMax: number, done: ReadDone): void;
  evicted(space: SpaceName, block: number): void;
  summary(space: SpaceName): SpaceCounts;
  commit(batch: readonly Mutation[], done: CommitDone): void;
  writeIdentity(id: NodeIdentity): Promise<void>;
  blocksWithState(space: SpaceName, fromBlock: number, max: number): Promise<readonly number[]>;
  close(): Promise<void>;
}

/** The storage found that its durable state is not what it acknowledged; the message says what. */
export class StorageDamaged extends Error {
  override readonly name = "StorageDamaged";
}

/** Rebuild the core state from loaded mutations. */
export function replay(mutations: readonly Mutation[]): AcceptorState {
  const state = emptyAcceptor();
  for (const m of mutations) applyMutation(state, m);
  return state;
}

/** What `load` returns of a state image: its spaces, trims and range promises. */
export function residentMutationsOf(state: AcceptorState): Mutation[] {
  const out: Mutation[] = [];
  const names = [...state.spaces.keys()].sort();
  for (const space of names) out.push({ kind: "space", space });
  for (const space of names) {
    const s = state.spaces.get(space)!;
    if (s.trimMark > 0) out.push({ kind: "trim", space, mark: s.trimMark });
    if (s.ranges.length > 0) out.push({ kind: "ranges", space, ranges: [...s.ranges] });
  }
  return out;
}

/** `read` over a state image (memory and simulated disks): the addresses of [from, to), or tooLarge. */
export function readImage(image: AcceptorState, space: SpaceName, from: number, to: number, blockSize: number, bytesMax: number): ReadResult {
  assert(from % blockSize === 0 && to % blockSize === 0 && from < to, () => `read of [${from}, ${to}) is not whole blocks of ${blockSize}`);
  const s = image.spaces.get(space);
  const addresses: StoredAddress[] = [];
  let bytes = 0;
  if (s) {
    forEachOwn(s, Math.max(from, s.trimMark), to, (index, state) => {
      addresses.push({ index, state });
      bytes += storedBytes(state);
    });
  }
  return bytes > bytesMax && to - from > blockSize ? { kind: "tooLarge" } : { kind: "read", addresses };
}

/** `blocksWithState` over a state image. */
export function blocksOfImage(image: AcceptorState, space: SpaceName, blockSize: number, fromBlock: number, max: number): number[] {
  const blocks = new Set<number>();
  for (const i of image.spaces.get(space)?.addresses.keys() ?? []) if (Math.floor(i / blockSize) >= fromBlock) blocks.add(Math.floor(i / blockSize));
  return [...blocks].sort((a, b) => a - b).slice(0, max);
}

/** `summary` over a state image. */
export function countImage(image: AcceptorState, space: SpaceName): SpaceCounts {
  const s = image.spaces.get(space);
  let highestAccepted = -1;
  for (const [i, a] of s?.addresses ?? []) if (a.accepted && i > highestAccepted) highestAccepted = i;
  return { addresses: s?.addresses.size ?? 0, highestAccepted };
}

/**
 * A copy of `m` that shares nothing mutable with the caller's objects: what a storage keeps between
 * `commit` and the sync, so that what the caller does to its objects afterwards never reaches the disk.
 */
export function copyMutation(m: Mutation): Mutation {
  if (m.kind !== "address") return m.kind === "ranges" ? { ...m, ranges: [...m.ranges] } : m;
  const s = m.state;
  const state = s.accepted ? { ...s, accepted: { ballot: s.accepted.ballot, value: s.accepted.value.slice() } } : { ...s };
  return { ...m, state };
}

/** Assertions every loaded state must satisfy (docs/ARCHITECTURE.md §7.4: assert after load). */
export function assertLoadedState(state: AcceptorState): void {
  for (const [name, space] of state.spaces) {
    assert(Number.isSafeInteger(space.trimMark) && space.trimMark >= 0, () => `${name}: bad trim mark ${space.trimMark}`);
    let last = -1;
    for (const r of space.ranges) {
      assert(r.from < r.to, () => `${name}: empty range promise [${r.from}, ${r.to})`);
      assert(r.from >= last, () => `${name}: range promises not sorted`);
      last = r.from;
    }
    for (const [i, s] of space.addresses) {
      assert(i >= space.trimMark, () => `${name}[${i}] loaded below trim mark ${space.trimMark}`);
      assert(!s.committed || s.accepted !== undefined, () => `${name}[${i}] committed without a value`);
    }
  }
}

/** A data directory's identity as JSON; validated when read back. */
export function encodeIdentity(id: NodeIdentity): string {
  const configuration = id.configuration ? new TextDecoder().decode(encodeConfiguration(id.configuration)) : undefined;
  return JSON.stringify({ clusterId: id.clusterId, acceptorId: id.acceptorId, createdAt: id.createdAt, ...(configuration ? { configuration } : {}), ...(id.joining ? { joining: true } : {}) });
}

export function decodeIdentity(text: string): NodeIdentity {
  const v = JSON.parse(text) as Partial<Omit<NodeIdentity, "configuration">> & { configuration?: unknown };
  assert(typeof v.clusterId === "string" && v.clusterId.length > 0, "stored identity has no clusterId");
  assert(typeof v.acceptorId === "number" && Number.isSafeInteger(v.acceptorId), "stored identity has no acceptorId");
  assert(typeof v.createdAt === "string", "stored identity has no createdAt");
  let configuration: Configuration | undefined;
  if (v.configuration !== undefined) {
    assert(typeof v.configuration === "string", "stored identity has a malformed configuration");
    const c = decodeConfiguration(new TextEncoder().encode(v.configuration));
    assert(c.ok, () => `stored identity: ${c.ok ? "" : c.error}`);
    configuration = c.value;
  }
  return { clusterId: v.clusterId, acceptorId: v.acceptorId, createdAt: v.createdAt, ...(configuration ? { configuration } : {}), ...(v.joining === true ? { joining: true } : {}) };
}
