/** Waiting for a condition in a test, never for a fixed time. */

/**
 * Resolves once `condition` holds, polling every 20 ms; rejects after `ms` with what `detail`
 * says about the state then.
 */
export async function until(
  condition: () => boolean | Promise<boolean>,
  ms = 20_000,
  detail: () => string | Promise<string> = () => "",
): Promise<void> {
  for (const end = Date.now() + ms; !(await condition()); await new Promise((r) => setTimeout(r, 20))) {
    if (Date.now() > end)
      throw new Error(`condition not met within ${ms} ms${(await detail()) ? `: ${await detail()}` : ""}`);
  }
}
