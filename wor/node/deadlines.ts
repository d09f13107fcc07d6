/**
 * Deadlines kept coarse, for the waits every request makes (a step of an operation, a request on a
 * stream, a KV node's wait for its shard): the waits whose deadlines fall in the same grain share
 * one timer, instead of a timer each, armed and cleared per wait (and, for `AbortSignal.timeout`, a
 * signal and its timer kept alive until the deadline however soon the wait ends). A wait expires at
 * its deadline or at most one grain later; the grain's timer is cleared once its last wait is
 * cancelled, so a process with nothing left to wait for is not held open until its deadlines pass.
 */

/** The grain, in ms: deadlines are rounded up to a multiple of it. */
export const DEADLINE_GRAIN_MS = 20;

interface Grain {
  readonly expiries: Set<() => void>;
  readonly timer: NodeJS.Timeout;
}

const grains = new Map<number, Grain>();

/** Call `expire` at `deadline` (epoch ms; up to one grain later) unless the returned cancel comes first. */
export function atDeadline(deadline: number, expire: () => void): () => void {
  const at = Math.ceil(deadline / DEADLINE_GRAIN_MS) * DEADLINE_GRAIN_MS;
  let grain = grains.get(at);
  if (!grain) {
    const expiries = new Set<() => void>();
    const timer = setTimeout(() => {
      grains.delete(at);
      for (const e of expiries) e();
    }, Math.max(0, at - Date.now()));
    grain = { expiries, timer };
    grains.set(at, grain);
  }
  const g = grain;
  const once = () => expire();
  g.expiries.add(once);
  return () => {
    if (!g.expiries.delete(once) || g.expiries.size > 0 || grains.get(at) !== g) return;
    grains.delete(at);
    clearTimeout(g.timer);
  };
}

/** The symbol `until` resolves with when the deadline came first. */
export const TIMED_OUT: unique symbol = Symbol("timed out");

/** `p`, or TIMED_OUT once `deadline` (epoch ms) passes. */
export function until<T>(p: Promise<T>, deadline: number): Promise<T | typeof TIMED_OUT> {
  return new Promise<T | typeof TIMED_OUT>((resolve, reject) => {
    const cancel = atDeadline(deadline, () => resolve(TIMED_OUT));
    p.then(
      (v) => {
        cancel();
        resolve(v);
      },
      (e: unknown) => {
        cancel();
        reject(e);
      },
    );
  });
}

/** A signal aborted `ms` from now (with a TimeoutError, as `AbortSignal.timeout`'s) unless `cancel` comes first. */
export function timeoutSignal(ms: number): { readonly signal: AbortSignal; readonly cancel: () => void } {
  const c = new AbortController();
  const cancel = atDeadline(Date.now() + ms, () => c.abort(new DOMException(`no answer within ${ms} ms`, "TimeoutError")));
  return { signal: c.signal, cancel };
}
