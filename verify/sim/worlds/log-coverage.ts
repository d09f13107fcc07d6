/**
 * Probes of the log simulation's sequencer paths (worlds/log.ts): which sequencer issued
 * each slot, so a token whose priors came from another incarnation (learned by recovery, or through
 * a takeover while the other still runs) is counted, and when a sequencer sealed behind itself.
 */
import type { SequencerCore } from "../../../apps/log/core/sequencer.ts";
import type { Token } from "../../../apps/log/core/tokens.ts";
import { probe } from "../../runtime/probe.ts";

export class LogCoverage {
  /** slot → the endpoint of the sequencer that issued it. */
  private readonly issuer = new Map<number, number>();
  private readonly last = new Map<number, { recoveries: number; sealedBelow: number }>();

  constructor(private readonly segmentSize: number) {}

  /** Sequencer `endpoint` issued `tokens`; `alive` tells which sequencers still run. */
  issued(endpoint: number, tokens: readonly Token[], alive: (endpoint: number) => boolean): void {
    for (const t of tokens) {
      this.issuer.set(t.slot, endpoint);
      for (const p of t.priors) {
        const by = this.issuer.get(p);
        if (by === undefined || by === endpoint) continue;
        // A retry's earlier attempt came from another sequencer: this one knows it from recovery.
        probe("log.token.priorFromOtherSequencer");
        if (alive(by)) probe("log.token.priorFromLiveOtherSequencer");
        if (Math.floor(p / this.segmentSize) < Math.floor(t.slot / this.segmentSize) - 2) probe("log.token.priorBeyondLastTwoSegments");
      }
    }
  }

  /** After sequencer `endpoint` ran: did it seal behind itself (not by recovering)? */
  ran(endpoint: number, core: SequencerCore): void {
    const { recoveries, sealedBelow } = core.status;
    const before = this.last.get(endpoint);
    if (before && before.recoveries === recoveries && sealedBelow > before.sealedBelow) probe("log.seq.sealBehind");
    this.last.set(endpoint, { recoveries, sealedBelow });
  }
}
