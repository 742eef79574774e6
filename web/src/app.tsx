/**
 * The console's shell: sign-in, then the signed-in identity (tier, scopes, quota), the screens and
 * links to the reference and the health report. A call answered `unauthenticated` (a revoked or
 * expired key) ends the session and says why.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { TransportProvider, useQuery as useRpc } from "@connectrpc/connect-query";
import { createConnectTransport } from "@connectrpc/connect-web";
import { QueryClient, QueryClientProvider, useQuery } from "@tanstack/react-query";
import { lazy, Suspense, useCallback, useEffect, useMemo, useState } from "react";
import { AccountService } from "../../gen/flowforge/account/v1/account_pb.js";
import { Tier } from "../../gen/flowforge/common/v1/common_pb.js";
import { JobsScreen } from "./screens/jobs.js";
import { KeysScreen } from "./screens/keys.js";
import { Playground } from "./screens/playground.js";
import { SignIn } from "./screens/sign-in.js";
import { forgetRateLimit, noteRateLimit, useRateLimit } from "./quota.js";
import { registry } from "./services.js";
import { sessionKey, setSessionKey } from "./session.js";

// The usage screen and its chart library load when it is opened, not with the console.
const UsageScreen = lazy(() => import("./screens/usage.js"));

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
      forgetRateLimit();
    },
    [queryClient],
  );
  const transport = useMemo(() => {
    if (!apiKey) return undefined;
    const auth: Interceptor = (next) => async (req) => {
      req.header.set("authorization", `Bearer ${apiKey}`);
      try {
        const res = await next(req);
        noteRateLimit(res.header.get("ratelimit"));
        return res;
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
  const route = useRoute();
  const identity = useRpc(AccountService.method.getIdentity, {});
  const health = useQuery({
    queryKey: ["health"],
    queryFn: async () => ((await (await fetch("/health")).json()) as { status: string }).status,
    refetchInterval: 10_000,
  });
  const who = identity.data;
  const latest = useRateLimit();
  return (
    <>
      <header className="top">
        <h1>FlowForge</h1>
        <nav aria-label="Screens">
          <a href="#/playground" aria-current={route.screen === "playground" ? "page" : undefined}>
            Playground
          </a>
          <a href="#/jobs" aria-current={route.screen === "jobs" ? "page" : undefined}>
            Jobs
          </a>
          <a href="#/usage" aria-current={route.screen === "usage" ? "page" : undefined}>
            Usage
          </a>
          {who?.scopes.includes("admin") && (
            <a href="#/keys" aria-current={route.screen === "keys" ? "page" : undefined}>
              Keys
            </a>
          )}
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
              <span data-quota>
                {who.quotaWindows.length === 0
                  ? "quota unlimited"
                  : `quota left: ${who.quotaWindows
                      .map((w) => {
                        const left = latest.get(w.name) ?? w.remaining;
                        return `${left.toLocaleString()} of ${w.limit.toLocaleString()} this ${w.name}`;
                      })
                      .join(", ")}`}
              </span>
            </>
          )}
          <button type="button" onClick={onSignOut}>
            Sign out
          </button>
        </section>
      </header>
      <main>
        {route.screen === "jobs" && <JobsScreen jobId={route.id} />}
        {route.screen === "keys" && <KeysScreen />}
        {route.screen === "usage" && (
          <Suspense fallback={<p>Loading…</p>}>
            <UsageScreen />
          </Suspense>
        )}
        {route.screen === "playground" && <Playground apiKey={apiKey} />}
      </main>
    </>
  );
}

/** The screen the location's hash names: `#/playground/...`, `#/jobs`, `#/jobs/<id>`, `#/keys`, `#/usage`. */
function useRoute(): Route {
  const [route, setRoute] = useState(readRoute);
  useEffect(() => {
    const onHash = () => setRoute(readRoute());
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);
  return route;
}

type Route = { screen: "playground" | "jobs" | "keys" | "usage"; id?: string };

function readRoute(): Route {
  const jobs = /^#\/jobs(?:\/([\w-]+))?$/.exec(window.location.hash);
  if (jobs) return { screen: "jobs", id: jobs[1] };
  if (window.location.hash === "#/keys") return { screen: "keys" };
  if (window.location.hash === "#/usage") return { screen: "usage" };
  return { screen: "playground" };
}
