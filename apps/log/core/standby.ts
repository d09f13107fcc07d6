/**
 * Which sequencer serves a log (docs/ARCHITECTURE.md §4.1, a lease-free rule in the spirit of §4.2: a wrongful
 * takeover costs time, never safety). The log's **active** sequencer is the owner of its last
 * allocated segment, as its allocation metadata says (`{sequencer, address}`). Another sequencer
 * that serves at an address stands by for it (redirecting clients there) unless a client asks it
 * to take over, naming that address (a takeover hint: the client gave up on it). An embedded
 * sequencer (no address), or an earlier incarnation at our own address, is fenced instead —
 * unless it is a rival this sequencer **gives way to** (`yieldsTo`, its owner's rule: a KV node
 * gives way to the node of a newer partition map, apps/kv): then it stops issuing (deposed)
 * instead of recovering over the rival's segments and fighting it for the log.
 */
import { type LastSegment, lastSegment } from "../../../wor/core/segments.ts";
import { type RegGen, sleep } from "../../../wor/core/steps.ts";
import { type Recovered, type RecoveryConfig, recoverSegments } from "./recovery.ts";
import { planted } from "../../../verify/runtime/planted.ts";
import { LOG_SEGMENT_META, type LogSegmentFields } from "./segments.ts";
import { type ActiveSequencer, type LogResult, isTransient, logOk } from "./steps.ts";

/** A sequencer as its segments name it: its owner id, and where it serves (none: embedded). */
export interface SequencerSelf {
  /** Written in each segment's allocation metadata: unique per sequencer incarnation. */
  readonly owner: string;
  /** Where this sequencer serves ("host:port"), written with `owner`: a standby redirects clients
   *  here. None: embedded in an appender, never standing by. */
  readonly address?: string;
  /** Rival owners this sequencer gives way to (deposed on finding the log's last segment theirs).
   *  Must order the log's writers strictly (no two give way to each other, else both may stop).
   *  None: it gives way to nobody. */
  readonly yieldsTo?: (owner: string) => boolean;
}

/** What to do about the last segment's owner: it is us (or nobody yet), fence it, stand by for it,
 *  or give way to it. */
export type LastOwner = "ours" | "fence" | ActiveSequencer | { readonly yieldTo: string };

/** Who owns the last allocated segment `found`, as far as `self` is concerned; `takeover(address)`:
 *  a client asked us to take over from the sequencer at `address`. */
function ownerIn(self: SequencerSelf, found: LastSegment<LogSegmentFields>, takeover: (address: string) => boolean): LastOwner {
  if (found.segment < 0) return "ours";
  const { owner, address } = found.meta;
  if (owner === undefined || owner === self.owner) return "ours";
  // Planted bug: a sequencer gives way to any rival (two writers of a log may both stop).
  if (self.yieldsTo?.(owner) || (self.yieldsTo && planted("yieldToAnyRival"))) return { yieldTo: owner };
  if (address === undefined || self.address === undefined || address === self.address || takeover(address)) return "fence";
  return { owner, address };
}

/** `ownerIn` the log's last allocated segment. */
export function* lastOwner(log: string, self: SequencerSelf, takeover: (address: string) => boolean): RegGen<LogResult<LastOwner>> {
  const found = yield* lastSegment(log, LOG_SEGMENT_META);
  if (!found.ok) return found;
  return logOk(ownerIn(self, found.value, takeover));
}

/** Why a sequencer was deposed on finding `owner`'s segment last. */
export const givingWay = (owner: string): string => `${owner} owns the log's last segment, and this sequencer gives way to it`;

/** A standby's answer to a grant request. */
export const redirect = (self: SequencerSelf, log: string, active: ActiveSequencer): LogResult<never> => ({
  ok: false,
  failure: { code: "redirect", message: `sequencer ${self.owner} stands by: ${active.owner} at ${active.address} serves log ${log}`, active },
});

/** What a sequencer's recovery found: the sealed log to serve, that another sequencer serves it, or
 *  that a rival it gives way to owns it (nothing was sealed). */
export type Recovery =
  | ({ readonly kind: "sealed" } & Recovered)
  | { readonly kind: "standby"; readonly active: ActiveSequencer }
  | { readonly kind: "yield"; readonly owner: string };

/** Stand by if another sequencer serves the log (and no client asked us to take over from it), give
 *  way if a rival we yield to owns it; otherwise seal what is unsealed and learn the dedupe window
 *  (./recovery.ts). Retries while the cluster is unreachable or another sequencer keeps preempting. */
export function* recoverOrStandBy(cfg: SequencerSelf & RecoveryConfig, takeover: (address: string) => boolean): RegGen<LogResult<Recovery>> {
  for (;;) {
    const r = yield* tryRecover(cfg, takeover);
    if (r.ok || !isTransient(r.failure.code)) return r;
    yield* sleep(cfg.retryMs);
  }
}

function* tryRecover(cfg: SequencerSelf & RecoveryConfig, takeover: (address: string) => boolean): RegGen<LogResult<Recovery>> {
  const found = yield* lastSegment(cfg.log, LOG_SEGMENT_META);
  if (!found.ok) return found;
  const owner = ownerIn(cfg, found.value, takeover);
  if (typeof owner === "object") return logOk("yieldTo" in owner ? { kind: "yield", owner: owner.yieldTo } : { kind: "standby", active: owner });
  const r = yield* recoverSegments(cfg, found.value);
  return r.ok ? logOk({ kind: "sealed", ...r.value }) : r;
}
