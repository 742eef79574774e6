/**
 * The console's shell: sign-in, then the signed-in identity (tier, scopes, quota), the screens and
 * links to the reference and the health report. A call answered `unauthenticated` (a revoked or
 * expired key) ends the session and says why.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { TransportProvider, useQuery as useRpc } from "@connectrpc/connect-query";
import { createConnectTransport } from "@connectrpc/connect-web";
import { QueryClient, QueryClientProvider, useQuery } from "@tanstack/react-query";
import { useCallback, useMemo, useState } from "react";
import { AccountService } from "../../gen/flowforge/account/v1/account_pb.js";
import { Tier } from "../../gen/flowforge/common/v1/common_pb.js";
import { Playground } from "./screens/playground.js";
import { SignIn } from "./screens/sign-in.js";
import { registry } from "./services.js";
import { sessionKey, setSessionKey } from "./session.js";

export function App() {
  const [apiKey, setApiKey] = useState(sessionKey);
  const [notice, setNotice] = useState<string>();
  const queryClient = useMemo(() => new QueryClient({ defaultOptions: { queries: { retry: false } } }), []);
  const signOut = useCallback(
    (why?: string) => {
      setSessionKey(undefined);
      setApiKey(undefined);
      setNotice(why);
      queryClient.clear();
    },
    [queryClient],
  );
  const transport = useMemo(() => {
    if (!apiKey) return undefined;
    const auth: Interceptor = (next) => async (req) => {
      req.header.set("authorization", `Bearer ${apiKey}`);
      try {
        return await next(req);
      } catch (err) {
        if (ConnectError.from(err).code === Code.Unauthenticated)
          signOut("The session ended: the key was revoked or has expired. Sign in again.");
        throw err;
      }
    };
    return createConnectTransport({
      baseUrl: window.location.origin,
      interceptors: [auth],
      jsonOptions: { registry },
    });
  }, [apiKey, signOut]);

  if (!apiKey || !transport)
    return (
      <SignIn
        notice={notice}
        onSignedIn={(key) => {
          setSessionKey(key);
          setNotice(undefined);
          setApiKey(key);
        }}
      />
    );
  return (
    <TransportProvider transport={transport}>
      <QueryClientProvider client={queryClient}>
        <Shell apiKey={apiKey} onSignOut={() => signOut()} />
      </QueryClientProvider>
    </TransportProvider>
  );
}

function Shell({ apiKey, onSignOut }: { apiKey: string; onSignOut(): void }) {
  const identity = useRpc(AccountService.method.getIdentity, {});
  const health = useQuery({
    queryKey: ["health"],
    queryFn: async () => ((await (await fetch("/health")).json()) as { status: string }).status,
    refetchInterval: 10_000,
  });
  const who = identity.data;
  return (
    <>
      <header className="top">
        <h1>FlowForge</h1>
        <nav aria-label="Screens">
          <a href="#/playground">Playground</a>
          <a href="/docs">API reference</a>
          <a href="/openapi.json">OpenAPI</a>
          <a href="/health">
            Health: <span className={`health ${health.data ?? "unknown"}`}>{health.data ?? "…"}</span>
          </a>
        </nav>
        <section className="identity" aria-label="Signed in as">
          {who && (
            <>
              <span>
                tenant <code>{who.tenantId}</code>
              </span>
              <span>tier {Tier[who.tier]?.replace(/^TIER_/, "").toLowerCase()}</span>
              {who.quota && (
                <span>
                  quota{" "}
                  {who.quota.perMinute || who.quota.perDay
                    ? `${who.quota.perMinute.toLocaleString()}/min, ${who.quota.perDay.toLocaleString()}/day`
                    : "the tier's"}
                </span>
              )}
            </>
          )}
          <button type="button" onClick={onSignOut}>
            Sign out
          </button>
        </section>
      </header>
      <main>
        <Playground apiKey={apiKey} />
      </main>
    </>
  );
}
