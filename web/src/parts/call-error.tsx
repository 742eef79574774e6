/** A failed call's message where a screen shows it (nothing when there is no error). */
import { ConnectError } from "@connectrpc/connect";

/** The error's own message, as an alert; `error` is whatever TanStack Query or a mutation holds. */
export function CallError({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p className="answer error" role="alert">
      {ConnectError.from(error).rawMessage}
    </p>
  );
}
