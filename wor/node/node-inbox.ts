/**
 * What waits in an acceptor node's inbox (wor/node/acceptor-node.ts), served strictly in order:
 * one envelope's frames from a session, a barrier, an inspection, or an exclusive run.
 */
import type { ErrorCode, Mutation, Reply } from "../../paxos/messages.ts";
import type { DecodedClientFrame } from "../core/frames.ts";
import type { InspectReply, InspectRequest } from "../wire/admin.ts";
import type { FrameSink, Release } from "./node-replies.ts";

export type InspectResult = { readonly ok: true; readonly value: InspectReply } | { readonly ok: false; readonly code: ErrorCode; readonly message: string };

/** The frames of one envelope stepped since the last submission: submitted together. */
export interface Part {
  readonly mutations: Mutation[];
  readonly releases: Release[];
}

/** What waits in the node's inbox, served strictly in order. */
export type Work =
  | { readonly kind: "frames"; readonly frames: readonly DecodedClientFrame[]; readonly sink: FrameSink; next: number; part: Part; refused?: Reply }
  | { readonly kind: "barrier"; readonly done: () => void }
  | { readonly kind: "inspect"; readonly req: InspectRequest; readonly done: (r: InspectResult) => void; refused?: Reply }
  | { readonly kind: "exclusive"; readonly run: () => Promise<void>; state?: "running" | "finished" };

export const newPart = (): Part => ({ mutations: [], releases: [] });
