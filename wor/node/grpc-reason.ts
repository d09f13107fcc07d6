/** Why a gRPC connection failed, in a few words (grpc-js's reasons run long, ending in resolution notes). */
export function shortReason(reason: string): string {
  const m = /(ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|ECONNRESET)/.exec(reason);
  if (m) return m[1] === "ECONNREFUSED" ? "connection refused" : m[1]!;
  return reason.length > 80 ? `${reason.slice(0, 79)}…` : reason;
}
