/**
 * Usage of the signed-in tenant (AccountService): calls, errors, bytes and job items per day as a
 * chart (Chart.js, loaded with this screen only) with the same figures as a table, per method and
 * key below; tokens of the LLM capability per model.
 */
import { useQuery } from "@connectrpc/connect-query";
import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Tooltip } from "chart.js";
import { useEffect, useMemo, useRef } from "react";
import { AccountService } from "../../../gen/flowforge/account/v1/account_pb.js";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);

interface Day {
  day: string;
  calls: number;
  errors: number;
  jobItems: number;
  bytesIn: number;
  bytesOut: number;
}

function DailyChart({ days }: { days: Day[] }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!canvas.current) return;
    const chart = new Chart(canvas.current, {
      type: "bar",
      data: {
        labels: days.map((d) => d.day),
        datasets: [
          { label: "calls", data: days.map((d) => d.calls), backgroundColor: "#0b5cad" },
          { label: "errors", data: days.map((d) => d.errors), backgroundColor: "#a4161a" },
          { label: "job items", data: days.map((d) => d.jobItems), backgroundColor: "#1b6e2d" },
        ],
      },
      options: { animation: false, responsive: true, maintainAspectRatio: false },
    });
    return () => chart.destroy();
  }, [days]);
  return (
    <div className="chart">
      <canvas
        ref={canvas}
        role="img"
        aria-label="Calls, errors and job items per day (the table below has the figures)"
      />
    </div>
  );
}

export default function UsageScreen() {
  const usage = useQuery(AccountService.method.getUsage, {});
  const tokens = useQuery(AccountService.method.getTokenUsage, {});
  const days = useMemo(() => {
    const byDay = new Map<string, Day>();
    for (const u of usage.data?.usage ?? []) {
      const d = byDay.get(u.day) ?? { day: u.day, calls: 0, errors: 0, jobItems: 0, bytesIn: 0, bytesOut: 0 };
      d.calls += Number(u.calls);
      d.errors += Number(u.errors);
      d.jobItems += Number(u.jobItems);
      d.bytesIn += Number(u.bytesIn);
      d.bytesOut += Number(u.bytesOut);
      byDay.set(u.day, d);
    }
    return [...byDay.values()].sort((a, b) => a.day.localeCompare(b.day));
  }, [usage.data]);
  return (
    <section aria-labelledby="usage-title">
      <h2 id="usage-title">Usage</h2>
      {days.length > 0 ? <DailyChart days={days} /> : <p>No metered calls yet.</p>}
      <table className="usage">
        <caption>Per key, method and day</caption>
        <thead>
          <tr>
            <th scope="col">Day</th>
            <th scope="col">Method</th>
            <th scope="col">Key</th>
            <th scope="col">Calls</th>
            <th scope="col">Errors</th>
            <th scope="col">Job items</th>
            <th scope="col">Bytes in</th>
            <th scope="col">Bytes out</th>
          </tr>
        </thead>
        <tbody>
          {usage.data?.usage.map((u) => (
            <tr key={`${u.day}/${u.method}/${u.keyId}`} data-method={u.method}>
              <td>{u.day}</td>
              <td>
                <code>{u.method}</code>
              </td>
              <td>
                <code>{u.keyId}</code>
              </td>
              <td className="calls">{u.calls.toLocaleString()}</td>
              <td>{u.errors.toLocaleString()}</td>
              <td>{u.jobItems.toLocaleString()}</td>
              <td>{u.bytesIn.toLocaleString()}</td>
              <td>{u.bytesOut.toLocaleString()}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <table className="usage">
        <caption>LLM tokens per model and day</caption>
        <thead>
          <tr>
            <th scope="col">Day</th>
            <th scope="col">Model</th>
            <th scope="col">Calls</th>
            <th scope="col">Prompt</th>
            <th scope="col">Completion</th>
            <th scope="col">Cached</th>
            <th scope="col">Cost (USD)</th>
          </tr>
        </thead>
        <tbody>
          {tokens.data?.usage.map((t) => (
            <tr key={`${t.day}/${t.provider}/${t.model}/${t.keyId}`}>
              <td>{t.day}</td>
              <td>
                {t.provider}/{t.model}
              </td>
              <td>{t.calls.toLocaleString()}</td>
              <td>{t.promptTokens.toLocaleString()}</td>
              <td>{t.completionTokens.toLocaleString()}</td>
              <td>{t.cachedTokens.toLocaleString()}</td>
              <td>{t.costUsd.toFixed(4)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
