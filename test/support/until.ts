/** Waiting for a condition in a test, never for a fixed time: the one helper every test waits with. */

/** Options for waitFor. */
export interface WaitOptions {
  /** Longest wait. @default 20_000 */
  ms?: number;
  /** What is awaited, for the error when it never comes. */
  what?: string;
  /** What the state is, for that error. */
  detail?: () => string | Promise<string>;
  /** Treat a probe that throws as "not yet" (a process restarting, say). @default false */
  retryErrors?: boolean;
}

/**
 * Resolves with the first value `probe` gives that is neither undefined nor false, polling every
 * 20 ms; rejects after `ms` saying what was awaited and what the state was.
 */
export async function waitFor<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  options: WaitOptions = {},
): Promise<T> {
  const ms = options.ms ?? 20_000;
  for (const end = Date.now() + ms; ; await new Promise((r) => setTimeout(r, 20))) {
    let value: T | undefined | false;
    try {
      value = await probe();
    } catch (err) {
      if (!options.retryErrors) throw err;
      value = undefined;
    }
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) {
      const detail = options.detail ? await options.detail() : "";
      throw new Error(`${options.what ?? "condition"} not met within ${ms} ms${detail ? `: ${detail}` : ""}`);
    }
  }
}

/** Resolves once `condition` holds (waitFor of a boolean). */
export async function until(
  condition: () => boolean | Promise<boolean>,
  ms = 20_000,
  detail?: () => string | Promise<string>,
): Promise<void> {
  await waitFor(condition, { ms, detail });
}
