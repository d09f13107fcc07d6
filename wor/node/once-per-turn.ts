/**
 * Work that runs once after the current turn of the event loop however often it is asked for before
 * then, so that what arrives meanwhile leaves together: the client's envelopes per acceptor, a
 * session's replies, a replica's or a player's outputs (after every microtask of the turn has run).
 */
export class OncePerTurn {
  private queued = false;
  constructor(private readonly run: () => void) {}

  /** Asked for and not run yet. */
  get scheduled(): boolean {
    return this.queued;
  }

  schedule(): void {
    if (this.queued) return;
    this.queued = true;
    setImmediate(() => {
      this.queued = false;
      this.run();
    });
  }
}
