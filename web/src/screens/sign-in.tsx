/** Sign-in with an API key: checked against AccountService before it is kept for the tab. */
import { Code, ConnectError } from "@connectrpc/connect";
import { useState } from "react";
import { AccountService } from "../../../gen/flowforge/account/v1/account_pb.js";
import { createFlowForgeClient } from "../client.js";

export function SignIn({ onSignedIn, notice }: { onSignedIn(key: string): void; notice?: string }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | undefined>(notice);
  const [busy, setBusy] = useState(false);
  return (
    <main className="sign-in">
      <h1>FlowForge console</h1>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          try {
            await createFlowForgeClient(AccountService, {
              baseUrl: window.location.origin,
              apiKey: key.trim(),
            }).getIdentity({});
            onSignedIn(key.trim());
          } catch (err) {
            const e2 = ConnectError.from(err);
            setError(
              e2.code === Code.Unauthenticated ? "That key is not valid (unknown, revoked or expired)." : e2.rawMessage,
            );
          } finally {
            setBusy(false);
          }
        }}
      >
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          type="password"
          autoComplete="off"
          value={key}
          onChange={(e) => setKey(e.target.value)}
          aria-describedby={error ? "api-key-help sign-in-error" : "api-key-help"}
          required
        />
        <p id="api-key-help" className="help">
          A FlowForge key (<code>ffk_…</code>) or a token (JWT) from your identity provider. It is kept for this tab
          only.
        </p>
        <button type="submit" disabled={busy || !key.trim()}>
          Sign in
        </button>
        {error && (
          <p id="sign-in-error" className="answer error" role="alert">
            {error}
          </p>
        )}
      </form>
      <p className="hint">
        The key stays in this tab&apos;s session storage. `npm start` prints the admin key on first start and keeps it
        in <code>.flowforge/admin-key</code>.
      </p>
    </main>
  );
}
