/** What every editor of the request form needs besides its value. */
import type { ApiDocument } from "../services.js";

/** The form's surroundings: the API reference, the last error's violations, file handling. */
export interface FormContext {
  doc?: ApiDocument;
  /** Violation descriptions by field path without indexes (`document.data`), from the last error. */
  violations: Map<string, string[]>;
  /** Files past this size go to the blob store instead of inline. */
  inlineLimit: number;
  /** Uploads a file to the blob store, resolving to its id. */
  upload(file: File): Promise<string>;
}
