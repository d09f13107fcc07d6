/**
 * Assertions shared by every core. An assertion failure is a programmer error: it throws
 * `AssertionFailed`, which the shells treat as a crash (docs/ARCHITECTURE.md §7.4).
 */
export class AssertionFailed extends Error {
  override readonly name = "AssertionFailed";
}

export function assert(condition: unknown, message: string | (() => string) = "assertion failed"): asserts condition {
  if (!condition) throw new AssertionFailed(typeof message === "function" ? message() : message);
}

export function unreachable(value: never, what = "value"): never {
  throw new AssertionFailed(`unreachable ${what}: ${JSON.stringify(value)}`);
}
