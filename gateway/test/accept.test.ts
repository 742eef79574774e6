/** When a REST answer is the file itself rather than JSON: by the Accept header's qualities. */
import { describe, expect, it } from "vitest";
import { wantsFile } from "../transports/rest/files.js";

describe("wantsFile", () => {
  it("answers a file only when a file type is preferred to JSON", () => {
    for (const accept of [
      "application/pdf",
      "image/*",
      "image/png, */*;q=0.1",
      "application/octet-stream",
      "application/json;q=0.5, application/pdf",
    ])
      expect(wantsFile(accept), accept).toBe(true);
    for (const accept of [
      undefined,
      "",
      "*/*",
      "application/json",
      // n8n's HTTP Request node and browsers: JSON first, images lower.
      "application/json,text/html,application/xhtml+xml,application/xml,text/*;q=0.9, image/*;q=0.8, */*;q=0.7",
      "application/pdf, application/json",
      "text/html",
    ])
      expect(wantsFile(accept), String(accept)).toBe(false);
  });
});
