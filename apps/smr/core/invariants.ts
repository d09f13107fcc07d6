/**
 * The SMR's invariants (docs/ARCHITECTURE.md §4.2), as one ghost observer that unit tests, the
 * simulator and the real-process tests feed with what they saw. Each method returns the violations
 * it found:
 *  - replicas apply the same commands in the same order: one value per slot, whoever applies it,
 *    and each replica's slots in order;
 *  - a command is applied to a machine at one slot only (every replica, every incarnation, executes
 *    a key at the first slot holding it; a retry elsewhere is answered from the session table);
 *  - a result returned to a client came from a command that was applied, and every client asking
 *    for that key gets the same result;
 *  - equal positions give equal digests (checkpoints, installed snapshots, final states), so a
 *    restored checkpoint reaches the digest of the replay.
 */
import { Digest } from "./digest.ts";

const fingerprint = (bytes: Uint8Array): string => new Digest().update(bytes).value();

export class SmrObserver {
  private readonly slots = new Map<number, string>();
  private readonly next = new Map<string, number>();
  private readonly executedAt = new Map<string, number>();
  private readonly results = new Map<string, string>();
  private readonly digests = new Map<number, { readonly digest: string; readonly by: string }>();

  /** Incarnation `replica` applied `value` at `slot`. */
  applied(replica: string, slot: number, value: Uint8Array): string[] {
    const out: string[] = [];
    const f = fingerprint(value);
    const seen = this.slots.get(slot);
    if (seen === undefined) this.slots.set(slot, f);
    else if (seen !== f) out.push(`replica ${replica} applied another value at slot ${slot} than its peers`);
    const expected = this.next.get(replica) ?? 0;
    if (slot !== expected) out.push(`replica ${replica} applied slot ${slot} after slot ${expected - 1}`);
    this.next.set(replica, slot + 1);
    return out;
  }

  /** `replica` applied command `key` to its machine at `slot`. */
  executed(replica: string, key: string, slot: number): string[] {
    const at = this.executedAt.get(key);
    if (at === undefined) this.executedAt.set(key, slot);
    return at === undefined || at === slot ? [] : [`command ${key} applied twice: at slot ${at}, and by ${replica} at slot ${slot}`];
  }

  /** A client was told `result` for command `key`. */
  answered(key: string, result: Uint8Array): string[] {
    const out: string[] = [];
    if (!this.executedAt.has(key)) out.push(`command ${key} was answered but never applied`);
    const f = fingerprint(result);
    const first = this.results.get(key);
    if (first === undefined) this.results.set(key, f);
    else if (first !== f) out.push(`command ${key} was answered with two different results`);
    return out;
  }

  /** `replica` holds the state of `position` with `digest` (a checkpoint it took or installed, or
   *  its final state); an install also moves its next slot there. */
  digest(replica: string, position: number, digest: string, installed = false): string[] {
    if (installed) this.next.set(replica, position);
    const seen = this.digests.get(position);
    if (seen === undefined) this.digests.set(position, { digest, by: replica });
    return seen === undefined || seen.digest === digest ? [] : [`replica ${replica} has digest ${digest} at position ${position}, ${seen.by} had ${seen.digest}`];
  }
}
