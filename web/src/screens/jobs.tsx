/**
 * Jobs: the tenant's jobs with filters (state, method, submit time) a page at a time, and one
 * job's items with their results and errors, its progress live over WatchJob (resumed from the
 * last event seen when the stream breaks: the gateway restarting, say), cancel, and retry of the
 * failed and cancelled items of a finished job (RetryJob: a new job, opened at once).
 */
import { create, type JsonValue, toJson } from "@bufbuild/protobuf";
import { anyUnpack, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createAsyncIterable } from "@connectrpc/connect/protocol";
import { useMutation, useQuery, useTransport } from "@connectrpc/connect-query";
import { useEffect, useState } from "react";
import {
  ItemState,
  type Job,
  type JobCounts,
  type JobItem,
  JobService,
  JobState,
} from "../../../gen/flowforge/jobs/v1/jobs_pb.js";
import { CallError } from "../parts/call-error.js";
import { Pager, usePager } from "../parts/pager.js";
import { registry } from "../services.js";

const stateName = (s: JobState) => JobState[s].replace(/^JOB_STATE_/, "").toLowerCase();
const itemStateName = (s: ItemState) => ItemState[s].replace(/^ITEM_STATE_/, "").toLowerCase();
const finished = (s: JobState) => s === JobState.SUCCEEDED || s === JobState.FAILED || s === JobState.CANCELLED;

export function JobsScreen({ jobId }: { jobId?: string }) {
  return jobId ? <JobDetail key={jobId} jobId={jobId} /> : <JobList />;
}

/** A `datetime-local` input's value (local time) as a Timestamp; undefined when empty or unreadable. */
function timestampOf(local: string) {
  const ms = local ? new Date(local).getTime() : Number.NaN;
  return Number.isNaN(ms) ? undefined : timestampFromMs(ms);
}

function JobList() {
  const [state, setState] = useState(JobState.UNSPECIFIED);
  const [method, setMethod] = useState("");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const filters = { state, method, createdAfter: timestampOf(from), createdBefore: timestampOf(to), pageSize: 50 };
  const pager = usePager(filters);
  const jobs = useQuery(
    JobService.method.listJobs,
    { ...filters, pageToken: pager.pageToken },
    { refetchInterval: 5000 },
  );
  return (
    <section aria-labelledby="jobs-title">
      <h2 id="jobs-title">Jobs</h2>
      <form className="filters" onSubmit={(e) => e.preventDefault()}>
        <label htmlFor="job-state">State</label>
        <select id="job-state" value={state} onChange={(e) => setState(Number(e.target.value) as JobState)}>
          <option value={JobState.UNSPECIFIED}>any</option>
          {[JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED].map((s) => (
            <option key={s} value={s}>
              {stateName(s)}
            </option>
          ))}
        </select>
        <label htmlFor="job-method">Method</label>
        <input
          id="job-method"
          type="text"
          placeholder="flowforge.crypto.v1.CryptoService/Hash"
          value={method}
          onChange={(e) => setMethod(e.target.value.trim())}
        />
        <label htmlFor="job-from">Submitted from</label>
        <input id="job-from" type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} />
        <label htmlFor="job-to">until</label>
        <input id="job-to" type="datetime-local" value={to} onChange={(e) => setTo(e.target.value)} />
      </form>
      <CallError error={jobs.error} />
      <table className="jobs">
        <thead>
          <tr>
            <th scope="col">Job</th>
            <th scope="col">Method</th>
            <th scope="col">State</th>
            <th scope="col">Items done</th>
            <th scope="col">Created</th>
          </tr>
        </thead>
        <tbody>
          {jobs.data?.jobs.map((job) => (
            <tr key={job.id}>
              <td>
                <a href={`#/jobs/${job.id}`}>{job.id}</a>
              </td>
              <td>
                <code>{job.method}</code>
              </td>
              <td className={`state ${stateName(job.state)}`}>{stateName(job.state)}</td>
              <td>{counts(job.counts)}</td>
              <td>{job.createTime ? new Date(Number(job.createTime.seconds) * 1000).toLocaleString() : ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {jobs.data && jobs.data.jobs.length === 0 && (
        <p>No jobs{state || method || from || to ? " match these filters" : " yet"}.</p>
      )}
      <Pager pager={pager} next={jobs.data?.nextPageToken} label="Pages of jobs" />
    </section>
  );
}

function counts(c: JobCounts | undefined): string {
  if (!c) return "";
  const done = c.succeeded + c.failed + c.cancelled;
  return `${done.toLocaleString()} / ${c.total.toLocaleString()}${c.failed ? ` (${c.failed.toLocaleString()} failed)` : ""}`;
}

const itemsPageSize = 200;

function JobDetail({ jobId }: { jobId: string }) {
  const transport = useTransport();
  const pager = usePager(jobId);
  const fetched = useQuery(JobService.method.getJob, { jobId, itemsPageSize, itemsPageToken: pager.pageToken });
  const cancel = useMutation(JobService.method.cancelJob);
  const retry = useMutation(JobService.method.retryJob, {
    onSuccess: (res) => {
      if (res.job) window.location.hash = `#/jobs/${res.job.id}`;
    },
  });
  const [live, setLive] = useState<{
    state?: JobState;
    counts?: JobCounts;
    items: Map<number, JobItem>;
    progress: Map<number, string>;
    watching: string;
  }>({
    items: new Map(),
    progress: new Map(),
    watching: "connecting",
  });
  const job: Job | undefined = fetched.data?.job;

  // WatchJob from the start; when the stream breaks, again from the last event seen.
  useEffect(() => {
    const abort = new AbortController();
    let after = 0n;
    void (async () => {
      for (let attempt = 0; !abort.signal.aborted; attempt++) {
        try {
          const res = await transport.stream(
            JobService.method.watchJob,
            abort.signal,
            undefined,
            undefined,
            createAsyncIterable([create(JobService.method.watchJob.input, { jobId, afterSequence: after })]),
          );
          setLive((l) => ({ ...l, watching: "live" }));
          for await (const event of res.message) {
            after = event.sequence;
            attempt = 0;
            setLive((l) => {
              const next = { ...l, items: new Map(l.items), progress: new Map(l.progress) };
              if (event.event.case === "stateChanged") {
                next.state = event.event.value.state;
                next.counts = event.event.value.counts;
              } else if (event.event.case === "itemFinished") {
                const item = event.event.value.item;
                if (item) next.items.set(item.index, item);
                next.counts = event.event.value.counts;
              } else if (event.event.case === "progress") {
                const p = event.event.value;
                next.progress.set(p.index, `${p.message}${p.fraction ? ` (${Math.round(p.fraction * 100)}%)` : ""}`);
              }
              return next;
            });
          }
          setLive((l) => ({ ...l, watching: "ended" }));
          return; // the job finished: the stream ended on purpose
        } catch {
          if (abort.signal.aborted) return;
          setLive((l) => ({ ...l, watching: "reconnecting" }));
          await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));
        }
      }
    })();
    return () => abort.abort();
  }, [jobId, transport]);

  const state = live.state ?? job?.state;
  const c = live.counts ?? job?.counts;
  // This page's items, with those that finished since it was read.
  const first = (pager.page - 1) * itemsPageSize;
  const items = new Map<number, JobItem>((job?.items ?? []).map((i) => [i.index, i]));
  for (const [i, item] of live.items) if (i >= first && i < first + itemsPageSize) items.set(i, item);
  const retryable = c ? c.failed + c.cancelled : 0;
  const done = c ? c.succeeded + c.failed + c.cancelled : 0;
  return (
    <section aria-labelledby="job-title">
      <p>
        <a href="#/jobs">All jobs</a>
      </p>
      <h2 id="job-title">Job {jobId}</h2>
      <CallError error={fetched.error} />
      {job && (
        <dl className="job">
          <dt>Method</dt>
          <dd>
            <code>{job.method}</code>
          </dd>
          <dt>State</dt>
          <dd
            className={`state ${state === undefined ? "" : stateName(state)}`}
            data-state={state === undefined ? "" : stateName(state)}
          >
            {state === undefined ? "" : stateName(state)}
          </dd>
          <dt>Progress</dt>
          <dd>
            <progress max={c?.total ?? 0} value={done} aria-label="Items done" /> {counts(c)}
          </dd>
          {job.retryOfJobId && (
            <>
              <dt>Retries</dt>
              <dd>
                the failed items of <a href={`#/jobs/${job.retryOfJobId}`}>job {job.retryOfJobId}</a>
              </dd>
            </>
          )}
          <dt>Watch</dt>
          <dd>
            <span role="status">{live.watching}</span>
          </dd>
        </dl>
      )}
      {state !== undefined && !finished(state) && (
        <button type="button" onClick={() => cancel.mutate({ jobId })} disabled={cancel.isPending}>
          Cancel the job
        </button>
      )}
      {state !== undefined && finished(state) && retryable > 0 && (
        <button type="button" onClick={() => retry.mutate({ jobId })} disabled={retry.isPending}>
          Retry the {retryable.toLocaleString()} failed or cancelled item{retryable === 1 ? "" : "s"}
        </button>
      )}
      <CallError error={cancel.error ?? retry.error} />
      <table className="items">
        <thead>
          <tr>
            <th scope="col">Item</th>
            {job?.retryOfJobId && <th scope="col">Retries item</th>}
            <th scope="col">State</th>
            <th scope="col">Attempts</th>
            <th scope="col">Result or error</th>
          </tr>
        </thead>
        <tbody>
          {[...items.values()]
            .sort((a, b) => a.index - b.index)
            .map((item) => (
              <tr key={item.index} data-item={item.index}>
                <td>{item.index}</td>
                {job?.retryOfJobId && <td>{item.sourceIndex}</td>}
                <td className={`state ${itemStateName(item.state)}`}>{itemStateName(item.state)}</td>
                <td>{item.attempts}</td>
                <td>
                  <ItemOutcome item={item} progress={live.progress.get(item.index)} />
                </td>
              </tr>
            ))}
        </tbody>
      </table>
      <Pager pager={pager} next={job?.nextItemsPageToken} label="Pages of items" />
    </section>
  );
}

function ItemOutcome({ item, progress }: { item: JobItem; progress?: string }) {
  if (item.error) return <span className="error-text">{item.error.message}</span>;
  if (item.result) {
    const message = anyUnpack(item.result, registry);
    const json: JsonValue = message ? toJson(registry.getMessage(message.$typeName)!, message, { registry }) : null;
    return <pre className="json">{JSON.stringify(json)}</pre>;
  }
  return <span>{progress ?? ""}</span>;
}
