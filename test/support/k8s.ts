/** The k8s manifests as a cluster would get them: an overlay rendered by `kubectl kustomize` (Debian's kubectl). */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { root } from "./mesh.js";

// biome-ignore lint/suspicious/noExplicitAny: rendered YAML of any shape, checked field by field by the tests
export type K8sObject = Record<string, any>;

/** Every object `k8s/overlays/<overlay>` renders to. */
export function renderOverlay(overlay: string): K8sObject[] {
  const text = execFileSync("kubectl", ["kustomize", join(root, "k8s/overlays", overlay)], { encoding: "utf8" });
  return parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject)
    .filter(Boolean);
}
