/** The events notification: events carried in order, or none when too large or malformed. */
import { describe, expect, it } from "vitest";
import { decodeEventNotice, encodeEventNotice } from "../topics.js";

describe("event notices", () => {
  it("carry the events in order, empty ones included", () => {
    const events = [Uint8Array.of(1, 2, 3), new Uint8Array(), Uint8Array.of(9)];
    expect(decodeEventNotice(encodeEventNotice(events)).map((e) => [...e])).toEqual([[1, 2, 3], [], [9]]);
  });

  it("carry nothing when the events are too large, so watchers read the database", () => {
    expect(encodeEventNotice([new Uint8Array(70 * 1024)]).length).toBe(0);
    expect(decodeEventNotice(new Uint8Array())).toEqual([]);
  });

  it("a truncated notice yields no events rather than garbage", () => {
    const notice = encodeEventNotice([Uint8Array.of(1, 2, 3), Uint8Array.of(4, 5)]);
    expect(decodeEventNotice(notice.subarray(0, notice.length - 1))).toEqual([]);
    expect(decodeEventNotice(Buffer.from("12"))).toEqual([]); // the old payload (a sequence number as text)
  });
});
