/**
 * Page tokens, one format for every list: base64url of `<kind>:<position>`, the position a
 * non-negative integer (an item index or a row sequence). Opaque to callers; a token that is not
 * one of ours for this list, or whose position is out of range, is `invalid_argument` naming the
 * field, never a database error.
 */
import { invalidArgument } from "./errors.js";

/** Largest position a token may carry (PostgreSQL bigint). */
const maxPosition = 2n ** 63n - 1n;

/** A token for the page after `position` in the list `kind`. */
export function encodePageToken(kind: string, position: bigint | number | string): string {
  return Buffer.from(`${kind}:${BigInt(position)}`).toString("base64url");
}

/** The position in a token from `encodePageToken(kind, …)`, at most `max`; refuses anything else naming `field`. */
export function decodePageToken(token: string, kind: string, field: string, max: bigint = maxPosition): bigint {
  const m = /^([a-z]+):(\d{1,19})$/.exec(Buffer.from(token, "base64url").toString("latin1"));
  if (!m || m[1] !== kind || Buffer.from(token, "base64url").toString("base64url") !== token) {
    throw invalidArgument(field, "not a token from a previous page");
  }
  const position = BigInt(m[2]);
  if (position > max) throw invalidArgument(field, "not a token from a previous page");
  return position;
}
