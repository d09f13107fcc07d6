/** Why an acceptor did not start (or stopped), in a file of its own so that reporting it does not load the storage engine. */

/** `refused` is about its data directory, the rest about the machine. */
export class AcceptorStartFailure extends Error {
  override readonly name = "AcceptorStartFailure";
  constructor(
    readonly reason: "refused" | "inUse" | "cannotOpen" | "cannotListen" | "stopped",
    message: string,
  ) {
    super(message);
  }
}
