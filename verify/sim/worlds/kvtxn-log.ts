/**
 * A KV partition's log in the kvtxn world (worlds/kvtxn.ts): a durable list of entries on the
 * simulated disk, shared by the nodes that serve the partition (worlds/kvtxn-partition.ts: one, and
 * while a move's old node is a zombie two, worlds/kvtxn-move.ts). The log is not under test here:
 * its first entry opens the accounts; an append lands at the end a few ms later (more when
 * buggified) and is never deduplicated (as past the log's dedupe window, so an idempotency key
 * such as `kv-commit@e` changes nothing here); an append may fail while its entry is still on its
 * way, to land later (its node appends it again); one in flight when its node's life crashes lands
 * or not. Every node serving the partition hears of each entry that lands (its player).
 */
import { participantName } from "../../../apps/kv/core/cross.ts";
import { decodeEntry } from "../../../apps/kv/core/records.ts";
import { DecodeError } from "../../../apps/log/core/bytes.ts";
import { buggify } from "../../runtime/buggify.ts";
import { probe } from "../../runtime/probe.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { SimProcess } from "../kernel/process.ts";
import type { KvTxnWorldOptions } from "./kvtxn-options.ts";

/** What a partition's log needs from the world. */
export interface LogHost {
  readonly k: Kernel;
  readonly o: KvTxnWorldOptions;
  /** `entry` is at `position` of partition `partition`'s log. */
  logged(partition: number, position: number, entry: Uint8Array): void;
}

/** An append on its way to the log. */
interface Append {
  /** The life that appended it. */
  readonly proc: SimProcess;
  readonly entry: Uint8Array;
  /** Lost with its node's crash. */
  lost: boolean;
}

export class PartitionLog {
  private readonly entries: Uint8Array[] = [];
  /** Appends on their way (of any node's life). */
  private readonly appends = new Set<Append>();
  /** The nodes' players: each hears of every entry that lands. */
  private readonly players = new Set<() => void>();
  /** Transactions a commit entry was ever appended for (a ghost, for the probes). */
  readonly appended = new Set<number>();

  constructor(
    private readonly h: LogHost,
    readonly partition: number,
    opening: Uint8Array,
  ) {
    this.entries.push(opening);
    h.logged(partition, 0, opening);
  }

  /** The position of the last entry (a tail read). */
  get tail(): number {
    return this.entries.length - 1;
  }

  /** Appends still on their way. */
  get inFlight(): number {
    return this.appends.size;
  }

  /** The entries from `from` on, with their positions. */
  from(from: number): { readonly position: number; readonly data: Uint8Array }[] {
    return this.entries.slice(from).map((data, i) => ({ position: from + i, data }));
  }

  /** `landed` runs each time an entry lands (a node's player). */
  subscribe(landed: () => void): void {
    this.players.add(landed);
  }

  /** `entry` lands at the log's end a few ms from now (unless a crash of `proc` loses it first), and
   *  `landed` hears where; or the append's answer is lost (`unanswered`, at once: it failed, its
   *  outcome unknown) while the entry is still on its way, to land a while later. The node checks
   *  that its life is still `proc` when it hears. */
  append(proc: SimProcess, entry: Uint8Array, landed: (slot: number) => void, unanswered: () => void): void {
    const { k, o } = this.h;
    const a: Append = { proc, entry, lost: false };
    this.appends.add(a);
    const answerLost = !k.healed && k.prng.chance(o.faults.appendAnswerLoss);
    const ms = 1 + k.prng.int(o.appendMs) + (buggify("sim.kvtxn.slowAppend") ? 10 + k.prng.int(60) : 0);
    if (answerLost) {
      probe("kvtxn.append.answerLost");
      k.later(ms, unanswered);
    }
    k.later(ms + (answerLost ? k.prng.int(4 * o.appendRetryMs) : 0), () => {
      this.appends.delete(a);
      if (a.lost) return;
      const slot = this.entries.push(entry) - 1;
      const e = decodeEntry(entry);
      k.record(`${participantName(this.partition)} log ${slot} ← ${e instanceof DecodeError ? "?" : e.kind}${e instanceof DecodeError || e.kind === "txn" ? "" : `@${e.kind === "owner" ? e.owner.epoch : e.epoch}`}`);
      this.h.logged(this.partition, slot, entry);
      for (const player of this.players) player();
      if (!answerLost) landed(slot);
    });
  }

  /** Life `proc` crashed: each of its appends on their way lands all the same, or not. */
  lost(proc: SimProcess): void {
    for (const a of this.appends) if (a.proc === proc) a.lost = !this.h.k.prng.chance(this.h.o.faults.appendLandsAfterCrash);
  }
}
