/** Cutting documents into chunks: by tokens and by sentences, with overlap, nothing lost. */
import { describe, expect, it } from "vitest";
import { chunk } from "../ingest.js";

const text = "The first sentence is here. A second one follows! Is this the third? Yes, and a fourth. Then a fifth.";

describe("chunk", () => {
  it("by sentences: size sentences a chunk, overlap shared, every sentence kept", async () => {
    const chunks = await chunk(text, "sentences", 2, 1);
    expect(chunks).toEqual([
      "The first sentence is here. A second one follows!",
      "A second one follows! Is this the third?",
      "Is this the third? Yes, and a fourth.",
      "Yes, and a fourth. Then a fifth.",
    ]);
    expect(await chunk(text, "sentences", 10, 0)).toEqual([text]);
  });

  it("by tokens: windows of size tokens sharing overlap, covering the text", async () => {
    const words = Array.from({ length: 200 }, (_, i) => `word${i}`).join(" ");
    const chunks = await chunk(words, "tokens", 50, 10);
    expect(chunks.length).toBeGreaterThan(4);
    expect(chunks[0].startsWith("word0")).toBe(true);
    expect(chunks.at(-1)!.endsWith("word199")).toBe(true);
    // Consecutive chunks share text.
    const tail = chunks[0].split(" ").at(-1)!;
    expect(chunks[1]).toContain(tail.slice(0, 3));
    expect(await chunk("short", "tokens", 50, 10)).toEqual(["short"]);
  });
});
