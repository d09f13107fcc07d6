/** Why a connection could not be made or held, in a few words, when `reason` (grpc-js's, which runs
 *  long, ending in resolution notes) is that; else undefined (the server's own words). */
export function connectionFailure(reason: string): string | undefined {
  const m = /(ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|ECONNRESET)/.exec(reason);
  if (m) return m[1] === "ECONNREFUSED" ? "connection refused" : m[1]!;
  return undefined;
}

/** Why a gRPC connection failed, in a few words. */
export function shortReason(reason: string): string {
  return connectionFailure(reason) ?? (reason.length > 80 ? `${reason.slice(0, 79)}…` : reason);
}
