/** The code a call ends with, as the access log and the metrics report it. */
import { Code, ConnectError } from "@connectrpc/connect";

/** `Canceled` when the client went away (whatever broke because of it), else the error's code. */
export function outcomeCode(signal: AbortSignal, err: unknown): Code {
  const code = ConnectError.from(err).code;
  return signal.aborted && code !== Code.DeadlineExceeded ? Code.Canceled : code;
}
