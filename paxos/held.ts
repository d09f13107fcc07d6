/**
 * Persist-before-reply, in the type system (docs/ARCHITECTURE.md §3.2). A core never hands out replies
 * directly: it wraps them in `Held`, which only a `Receipt` can open, and only storage mints a
 * receipt, after the batch holding the step's mutations is durable.
 */
declare const heldBrand: unique symbol;
declare const receiptBrand: unique symbol;

export interface Held<T> {
  readonly [heldBrand]: T;
}

/** Proof that everything handed to a storage before this receipt was minted is durable. */
export interface Receipt {
  readonly [receiptBrand]: true;
  readonly batch: number;
}

export function hold<T>(value: T): Held<T> {
  return { value } as unknown as Held<T>;
}

export function release<T>(held: Held<T>, _receipt: Receipt): T {
  return (held as unknown as { value: T }).value;
}

/** Only storage implementations (and simulated disks) call this, after a synced write completes. */
export function mintReceipt(batch: number): Receipt {
  return { batch } as unknown as Receipt;
}
