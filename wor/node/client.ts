/**
 * The register client (docs/ARCHITECTURE.md §3.1, §3.6): every operation of the register layer, on
 * whichever acceptor group holds its space. A cluster without groups has one, the main group, and
 * every call goes straight to its `GroupClient` (group-client.ts). With groups, a space's placement
 * is in its metadata, which lives in the main group: the client reads it once per space (then it
 * is cached: it never changes) and sends the space's operations to its group's client, so once
 * placed a space needs only its own group's quorum.
 *
 * Creating a space on a group chooses its metadata (with the group) in the main group, then creates
 * it in the group with the same metadata; a creation cut short between the two is finished by the
 * first client that opens the space. A client that knows no groups refuses every operation on a
 * placed space (the main group holds only an empty copy of it, which would read as unwritten): it
 * too reads a space's metadata before its first operation on it, unless the space was opened,
 * created or its metadata read through it.
 */
import type { Entry, SpaceName } from "../../paxos/messages.ts";
import { ownerOfSystemSpace } from "../../paxos/limits.ts";
import type { AllocResult, Capture, CaptureResult, CheckResult, CreateSpaceResult, ReadResult, SpaceMetaResult, WriteResult } from "../core/results.ts";
import { type SpaceKind, type SpaceMeta, describePlacement, groupsOf } from "../core/space-meta.ts";
import type { RegisterOpStep } from "../core/step-ops.ts";
import type { RegisterResults } from "../core/steps.ts";
import { type CaptureOne, GroupClient, type GroupClientOptions } from "./group-client.ts";
import { Striped } from "./striped.ts";
import type { Transport } from "./link.ts";
import { WatchFeed } from "./watch-feed.ts";
import { WorError } from "./wor-error.ts";

export { WorError };
export type { CaptureOne };

/** An acceptor group other than the main one: its acceptors' transport, their number and quorum. */
export interface GroupOptions {
  readonly transport: Transport;
  readonly acceptors: number;
  readonly quorum?: number;
}

export interface WorClientOptions extends GroupClientOptions {
  /** The groups besides the main one (`transport`, `acceptors`, `quorum`), by name. */
  readonly groups?: Readonly<Record<string, GroupOptions>>;
}

export class WorClient {
  private readonly main: GroupClient;
  /** The other groups' clients, opened at their first space. */
  private readonly others = new Map<string, GroupClient>();
  /** Each space's group, or groups it is striped over, once known (user spaces; a system space goes with its owner). */
  private readonly placed = new Map<SpaceName, GroupClient | Striped>();
  /** The reads of a placement under way: concurrent first operations on a space share one. */
  private readonly placing = new Map<SpaceName, Promise<GroupClient | Striped>>();

  constructor(readonly options: WorClientOptions) {
    // One proposer id for every group: a striped space's captures, one per group, carry the same one.
    this.main = new GroupClient(options);
    if (options.groups && options.proposerId === undefined) this.options = { ...options, proposerId: this.main.proposerId };
  }

  get proposerId(): number {
    return this.main.proposerId;
  }
  get segmentSize(): number {
    return this.main.segmentSize;
  }

  /**
   * Create a space of `kind` (default: a register space with this client's segment size), on
   * `meta.group` if given. The first creator's metadata wins: `Exists` carries what the space is,
   * which may be another kind or group.
   */
  async createSpace(space: SpaceName, meta: Partial<SpaceMeta> = {}): Promise<CreateSpaceResult> {
    for (const g of groupsOf(meta)) this.group(g); // an unknown group is refused before anything is chosen
    const r = await this.main.createSpace(space, meta);
    await this.settle(space, r.meta);
    return r;
  }
  /** What a space is (kind, segment size, group), from its write-once metadata register (cached). */
  async spaceMeta(space: SpaceName): Promise<SpaceMetaResult> {
    const r = await this.main.spaceMeta(space);
    if (r._tag === "Typed") await this.settle(space, r.meta);
    return r;
  }
  /** The metadata of a space that must be of `kind`; rejects with `wrongKind` before anything is written. */
  async openSpace(space: SpaceName, kind: SpaceKind): Promise<SpaceMeta> {
    const meta = await this.main.openSpace(space, kind);
    await this.settle(space, meta);
    return meta;
  }
  capture(space: SpaceName, index: number): Promise<CaptureOne> {
    return this.onAddress(space, index, (g) => g.capture(space, index));
  }
  captureRange(space: SpaceName, from: number, to: number): Promise<CaptureResult> {
    return this.on(space, (g) => g.captureRange(space, from, to));
  }
  async write(held: Capture, index: number, value: Uint8Array): Promise<WriteResult> {
    return (await this.writeMany(held, [{ index, value }])).get(index)!;
  }
  writeMany(held: Capture, entries: readonly Entry[]): Promise<Map<number, WriteResult>> {
    return this.on(held?.space, (g) => g.writeMany(held, entries));
  }
  /** Owner-ballot write, skipping phase 1: ONLY for the address's single owner (checked per client). */
  unsafeWrite(space: SpaceName, index: number, value: Uint8Array): Promise<WriteResult> {
    return this.onAddress(space, index, (g) => g.unsafeWrite(space, index, value));
  }
  read(space: SpaceName, index: number, opts: { recover?: boolean } = {}): Promise<ReadResult> {
    return this.onAddress(space, index, (g) => g.read(space, index, opts));
  }
  readRange(space: SpaceName, from: number, to: number, opts: { recover?: boolean } = {}): Promise<Map<number, ReadResult>> {
    return this.on(space, (g) => g.readRange(space, from, to, opts));
  }
  /** Trim below `below`; resolves with the mark a quorum holds (of every group, for a striped space). */
  trim(space: SpaceName, below: number): Promise<number> {
    return this.on(space, (g) => g.trim(space, below));
  }
  alloc(space: SpaceName, segment: number, meta: Uint8Array): Promise<AllocResult> {
    return this.on(space, (g) => g.alloc(space, segment, meta));
  }
  check(space: SpaceName, segment: number): Promise<CheckResult> {
    return this.on(space, (g) => g.check(space, segment));
  }
  /** Answer an app's register step (wor/core/steps.ts): resolves with the step's result, a failure included. */
  step<S extends RegisterOpStep>(step: S): Promise<RegisterResults[S["kind"]]> {
    return this.on(step?.kind === "write" ? step.capture?.space : step?.space, (g) => g.step(step));
  }

  /**
   * Values as they are learned chosen in `space` at index ≥ from (pushed, not polled; any order).
   * With groups, the space's placement must be known (it is once the space was opened, created or
   * its metadata read through this client): a watch of a space not yet placed fails at once, saying so.
   */
  watch(space: SpaceName, from = 0, options: { readonly skipOwn?: boolean } = {}): WatchFeed {
    const g = this.groupOf(space);
    if (g instanceof GroupClient) return g.watch(space, from, options);
    if (!this.options.groups && g instanceof Promise) {
      // Without groups every space is watched on the main group at once; a placed one fails the feed.
      const feed = this.main.watch(space, from, options);
      g.catch((e: unknown) => {
        if (e instanceof WorError && e.code === "invalid") feed.fail(e);
      });
      return feed;
    }
    if (g instanceof Striped) return g.watch(space, from, options, this.options.watchBufferMax ?? 65_536);
    void g.catch(() => undefined); // placing it is this call's side effect; the caller opens the space to see a failure
    const feed = new WatchFeed(0, 0, () => {});
    feed.fail(new WorError({ code: "invalid", message: `${space} is not placed yet in this client: open the space (or read its metadata) before watching it` }));
    return feed;
  }

  /** Stop: queued frames (commit notices) still go out, pending operations fail with `unavailable`. */
  close(): void {
    this.main.close();
    for (const g of this.others.values()) g.close();
  }

  /** `f` on the client of the group `space` lives in: at once when it is known, else once its
   *  metadata is read. Garbage goes to the main group's client, which refuses it. */
  private on<T>(space: SpaceName | undefined, f: (g: GroupClient | Striped) => Promise<T>): Promise<T> {
    const g = this.groupOf(space);
    return g instanceof Promise ? g.then(f) : f(g);
  }

  /** `f` on the client of the group address `index` of `space` lives on. */
  private onAddress<T>(space: SpaceName, index: number, f: (g: GroupClient) => Promise<T>): Promise<T> {
    return this.on(space, (g) => f(g instanceof Striped ? g.at(space, index) : g));
  }

  private groupOf(space: SpaceName | undefined): GroupClient | Striped | Promise<GroupClient | Striped> {
    if (typeof space !== "string") return this.main;
    const owner = ownerOfSystemSpace(space) ?? space;
    const known = this.placed.get(owner);
    if (known) return known;
    const under = this.placing.get(owner);
    if (under) return under;
    const placing = this.place(owner).finally(() => this.placing.delete(owner));
    this.placing.set(owner, placing);
    return placing;
  }

  /** Read where `space` lives (a space whose creation did not finish, or that does not exist, is
   *  sent to the main group, which answers for it; it is read again at the next operation). */
  private async place(space: SpaceName): Promise<GroupClient | Striped> {
    const r = await this.main.spaceMeta(space).catch((e: unknown) => {
      if (e instanceof WorError && e.code === "unknownSpace") return undefined;
      throw e;
    });
    if (r?._tag !== "Typed") return this.main;
    await this.settle(space, r.meta);
    return this.placed.get(space)!;
  }

  /** `space` has metadata `meta`: remember its group (or groups), and create it there (idempotent) the first time. */
  private async settle(space: SpaceName, meta: SpaceMeta): Promise<void> {
    const names = groupsOf(meta);
    if (!this.options.groups && names.some((n) => n !== "main")) {
      // The main group holds only an empty copy of a placed space: a client that does not know the
      // groups must not read or write it there.
      throw new WorError({ code: "invalid", message: `${space} lives ${describePlacement(meta)}, and this client knows no groups: give it the cluster file that names them` });
    }
    if (ownerOfSystemSpace(space) !== undefined || this.placed.has(space)) return;
    if (!this.options.groups) {
      this.placed.set(space, this.main);
      return;
    }
    const clients = new Map(names.map((n) => [n, this.group(n)] as const));
    await Promise.all(
      [...clients].map(async ([name, g]) => {
        if (g === this.main) return;
        const created = (await g.createSpace(space, meta)).meta;
        if (created.kind !== meta.kind || created.segmentSize !== meta.segmentSize || groupsOf(created).join() !== names.join()) {
          throw new WorError({ code: "internal", message: `${space} is placed on group ${name}, which holds another space of that name` });
        }
      }),
    );
    this.placed.set(space, meta.stripe ? new Striped({ groups: meta.stripe, segmentSize: meta.segmentSize }, clients) : this.group(names[0]!));
  }

  /** The client of group `name` ("main", or one of `options.groups`). */
  private group(name: string): GroupClient {
    if (name === "main") return this.main;
    const known = this.others.get(name);
    if (known) return known;
    const o = this.options.groups?.[name];
    if (!o) throw new WorError({ code: "invalid", message: `group ${name} is not in this client's cluster file (its groups: ${["main", ...Object.keys(this.options.groups ?? {})].join(", ")})` });
    const g = new GroupClient({ ...this.options, transport: o.transport, acceptors: o.acceptors, quorum: o.quorum });
    this.others.set(name, g);
    return g;
  }
}
