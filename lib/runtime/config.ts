/** Reading configuration from the environment, with clear errors for bad values. */

/** Integer environment variable, or the fallback when unset. Throws on a non-integer. */
export function envInt(name: string, fallback: number, env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value)) throw new Error(`${name} must be an integer, got "${raw}"`);
  return value;
}

/** String environment variable, or the fallback when unset or empty. */
export function envString(name: string, fallback: string, env: NodeJS.ProcessEnv = process.env): string {
  const raw = env[name];
  return raw === undefined || raw === "" ? fallback : raw;
}

/** Default limit for request and message sizes: 32 MiB. */
export const defaultMaxMessageBytes = 32 * 1024 * 1024;
