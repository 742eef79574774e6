/** Which capabilities a deployment runs (FLOWFORGE_CAPABILITIES), read against the catalogue. */
import { describe, expect, it } from "vitest";
import { catalog, selectCapabilities } from "../catalog.js";

describe("selectCapabilities", () => {
  it("every capability when the list names none", () => {
    expect(selectCapabilities(undefined)).toEqual(Object.keys(catalog));
    expect(selectCapabilities(" , ")).toEqual(Object.keys(catalog));
  });

  it("the named ones with the jobs service and, transitively, what they call", () => {
    expect(selectCapabilities("crypto")).toEqual(["crypto", "jobs"]);
    const vector = selectCapabilities(" vector ");
    expect(vector.sort()).toEqual(["jobs", "vector", ...(catalog.vector.uses ?? [])].sort());
    expect(vector).toContain("llm");
  });

  it("an unknown name is refused, naming it and the known ones", () => {
    expect(() => selectCapabilities("crypto,nope")).toThrow(/FLOWFORGE_CAPABILITIES names "nope"; known: .*crypto/);
  });
});
