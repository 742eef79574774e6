/**
 * The signed-in API key: kept in session storage (gone with the tab), never in a URL, never
 * logged. Everything the console sends carries it as `Authorization: Bearer`.
 */
const storageKey = "flowforge.apiKey";

/** The key of this tab's session, if signed in. */
export function sessionKey(): string | undefined {
  return sessionStorage.getItem(storageKey) ?? undefined;
}

/** Signs in (keeps the key for this tab) or out (`undefined`). */
export function setSessionKey(key: string | undefined): void {
  if (key) sessionStorage.setItem(storageKey, key);
  else sessionStorage.removeItem(storageKey);
}
