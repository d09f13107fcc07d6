/**
 * The confirmed tail (docs/ARCHITECTURE.md §4.1, apps/log/README.md glossary): a sequencer answers a
 * tail query (a grant request with no asks) only after a **tail check** that started after the
 * query arrived found the segment above its own unallocated. Lease-free, another sequencer may have
 * recovered over this one without its knowing (sealing its segments) and acknowledged appends in
 * segments it claimed above; segments are allocated in order (a claim of k follows an allocation of
 * k − 1), so if the one above ours is free, nothing above it is, and every append acknowledged
 * before the query lies below our tail. If another owns it, the sequencer recovers (or stands by)
 * before it answers; a check that cannot tell (`TAIL_CHECK_ATTEMPTS_MAX` rounds without a quorum)
 * fails the queries waiting for it (`unavailable`). The read-index round of Raft, for the log's
 * tail: one `check` per batch of queries.
 */
import { type RegGen, run, sleep } from "../../../wor/core/steps.ts";
import { LOG_SEGMENT_META } from "./segments.ts";

/** Rounds of one tail check that find nothing for sure (no quorum, a mixed picture) before the
 *  queries waiting for it fail (transiently: the client asks again). */
export const TAIL_CHECK_ATTEMPTS_MAX = 3;

/** Which tail queries a check confirmed: each query waits for a check numbered above its ticket. */
export class TailChecks {
  /** Checks started (the last one's number). */
  private started = 0;
  /** The last check that confirmed the tail. */
  private confirmed = 0;
  private running = false;

  /** What a query arriving now waits for: a check started after it. */
  get ticket(): number {
    return this.started;
  }

  /** Was the tail confirmed by a check started after the query with `ticket` arrived? */
  covers(ticket: number): boolean {
    return this.confirmed > ticket;
  }

  /** Start a check: its number, or none while one runs (queries arriving meanwhile wait for the next). */
  start(): number | undefined {
    if (this.running) return undefined;
    this.running = true;
    return ++this.started;
  }

  /** Check `n` ended; `confirmed`: the segment above ours was free. */
  done(n: number, confirmed: boolean): void {
    this.running = false;
    if (confirmed) this.confirmed = Math.max(this.confirmed, n);
  }

  /** The check under way is dropped (the sequencer recovers or stands by). */
  stop(): void {
    this.running = false;
  }
}

/** What lies above a sequencer's segments: nothing (`free`: the first segment from `from` on that
 *  is not its own, a claim under way may have allocated `from`, is unallocated), another owner's
 *  segment or a trimmed one (`rival`), or `unknown` (no quorum answered, a mixed picture,
 *  `attemptsMax` times). One `check` round when all is well. The SMR leader's read index
 *  (apps/smr/core/leader.ts) asks the same. */
export type Above = { readonly kind: "free" } | { readonly kind: "rival" | "unknown"; readonly why: string };

export function* segmentAbove(cfg: { readonly space: string; readonly owner: string; readonly retryMs: number; readonly attemptsMax: number }, from: number): RegGen<Above> {
  let why = "no check was answered";
  for (let segment = from, attempt = 0; attempt < cfg.attemptsMax; ) {
    // Not final: the query asks only whether anything above was chosen before it (a quorum that
    // accepted nothing there says no), not that nothing can be later; one read round, no capture.
    const r = yield* run({ kind: "check", space: cfg.space, segment, final: false });
    if (r.ok && r.value._tag === "Unallocated") return { kind: "free" };
    if (r.ok && r.value._tag === "Allocated") {
      const owner = LOG_SEGMENT_META.decode(r.value.meta).owner;
      if (owner !== cfg.owner) return { kind: "rival", why: `segment ${segment} above ours belongs to ${owner ?? "an unknown owner"}` };
      segment++;
      continue;
    }
    // Trimmed above our segments: the log was trimmed past our tail, which is stale then too.
    if (r.ok && r.value._tag === "Trimmed") return { kind: "rival", why: `segment ${segment} above ours is trimmed` };
    why = r.ok ? `segment ${segment} above ours is ${r.value._tag.toLowerCase()}` : r.failure.message;
    attempt++;
    yield* sleep(cfg.retryMs);
  }
  return { kind: "unknown", why };
}
