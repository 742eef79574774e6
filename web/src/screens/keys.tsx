/**
 * API keys (the `admin` scope): create one with its tenant, tier, scopes and quota, its secret
 * shown once; the list, revoked ones on request; revoke.
 */
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { useState } from "react";
import { AdminService } from "../../../gen/flowforge/admin/v1/admin_pb.js";
import { Tier } from "../../../gen/flowforge/common/v1/common_pb.js";
import { CallError } from "../parts/call-error.js";
import { Pager, usePager } from "../parts/pager.js";

const tiers = [Tier.FREE, Tier.BASIC, Tier.PRO, Tier.ENTERPRISE];
const tierName = (t: Tier) => Tier[t].replace(/^TIER_/, "").toLowerCase();
const when = (t?: { seconds: bigint }) => (t ? new Date(Number(t.seconds) * 1000).toLocaleString() : "");

export function KeysScreen() {
  const [includeRevoked, setIncludeRevoked] = useState(false);
  const pager = usePager(includeRevoked);
  const keys = useQuery(AdminService.method.listApiKeys, { includeRevoked, pageSize: 100, pageToken: pager.pageToken });
  const create = useMutation(AdminService.method.createApiKey, { onSuccess: () => void keys.refetch() });
  const revoke = useMutation(AdminService.method.revokeApiKey, { onSuccess: () => void keys.refetch() });
  const [form, setForm] = useState({ tenantId: "", name: "", tier: Tier.FREE, scopes: "", perMinute: "", perDay: "" });
  const error = keys.error ?? create.error ?? revoke.error;
  return (
    <section aria-labelledby="keys-title">
      <h2 id="keys-title">API keys</h2>
      <CallError error={error} />
      <form
        className="create-key"
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate({
            tenantId: form.tenantId.trim(),
            name: form.name.trim(),
            tier: form.tier,
            scopes: form.scopes
              .split(",")
              .map((s) => s.trim())
              .filter(Boolean),
            quota: { perMinute: Number(form.perMinute) || 0, perDay: Number(form.perDay) || 0 },
          });
        }}
      >
        <h3>Create a key</h3>
        <label htmlFor="key-tenant">Tenant</label>
        <input
          id="key-tenant"
          type="text"
          required
          value={form.tenantId}
          onChange={(e) => setForm({ ...form, tenantId: e.target.value })}
        />
        <label htmlFor="key-name">Name</label>
        <input
          id="key-name"
          type="text"
          value={form.name}
          onChange={(e) => setForm({ ...form, name: e.target.value })}
        />
        <label htmlFor="key-tier">Tier</label>
        <select
          id="key-tier"
          value={form.tier}
          onChange={(e) => setForm({ ...form, tier: Number(e.target.value) as Tier })}
        >
          {tiers.map((t) => (
            <option key={t} value={t}>
              {tierName(t)}
            </option>
          ))}
        </select>
        <label htmlFor="key-scopes">Scopes (comma-separated; none: every capability)</label>
        <input
          id="key-scopes"
          type="text"
          value={form.scopes}
          onChange={(e) => setForm({ ...form, scopes: e.target.value })}
        />
        <label htmlFor="key-minute">Requests a minute (0: the tier&apos;s)</label>
        <input
          id="key-minute"
          type="number"
          min={0}
          value={form.perMinute}
          onChange={(e) => setForm({ ...form, perMinute: e.target.value })}
        />
        <label htmlFor="key-day">Requests a day (0: the tier&apos;s)</label>
        <input
          id="key-day"
          type="number"
          min={0}
          value={form.perDay}
          onChange={(e) => setForm({ ...form, perDay: e.target.value })}
        />
        <button type="submit" disabled={create.isPending}>
          Create
        </button>
      </form>
      {create.data && (
        <div className="secret" role="status">
          <p>
            Key <code>{create.data.apiKey?.id}</code> created. Its secret is shown this once; it is stored only as a
            hash:
          </p>
          <pre>
            <output aria-label="The new key's secret">{create.data.secret}</output>
          </pre>
        </div>
      )}
      <p>
        <label>
          <input type="checkbox" checked={includeRevoked} onChange={(e) => setIncludeRevoked(e.target.checked)} /> Show
          revoked keys
        </label>
      </p>
      <table className="keys">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Key id</th>
            <th scope="col">Tenant</th>
            <th scope="col">Tier</th>
            <th scope="col">Scopes</th>
            <th scope="col">Created</th>
            <th scope="col">Revoked</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {keys.data?.apiKeys.map((k) => (
            <tr key={k.id} data-key={k.id}>
              <td>{k.name}</td>
              <td>
                <code>{k.id}</code>
              </td>
              <td>{k.tenantId}</td>
              <td>{tierName(k.tier)}</td>
              <td>{k.scopes.join(", ") || "all"}</td>
              <td>{when(k.createTime)}</td>
              <td>{when(k.revokeTime)}</td>
              <td>
                {!k.revokeTime && (
                  <button
                    type="button"
                    onClick={() => {
                      if (window.confirm(`Revoke ${k.name || k.id}? Calls with it fail from now on.`))
                        revoke.mutate({ id: k.id });
                    }}
                  >
                    Revoke <span className="visually-hidden">{k.name || k.id}</span>
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <Pager pager={pager} next={keys.data?.nextPageToken} label="Pages of keys" />
    </section>
  );
}
