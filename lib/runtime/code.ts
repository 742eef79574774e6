/**
 * Which form of the code this process runs: the TypeScript sources through tsx (tests, benches,
 * `npm run dev`) or the JavaScript compiled into `dist/` (`npm start`, the image). A process starts
 * its children and worker threads in the same form.
 */

/** True when running the compiled JavaScript in `dist/`. */
export const compiled = import.meta.url.endsWith(".js");

/** The `node` flags a child process or worker thread needs to load the code this process runs. */
export const loaderArgs: string[] = compiled ? [] : ["--import", "tsx"];

/** The file of a module given by its source name (`./worker.ts`), relative to `base`, in the form this process runs. */
export function moduleUrl(source: string, base: string | URL): URL {
  return new URL(modulePath(source), base);
}

/** A module's path given by its source name (`services/main.ts`), in the form this process runs. */
export function modulePath(source: string): string {
  return compiled ? source.replace(/\.ts$/, ".js") : source;
}
