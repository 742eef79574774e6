"""Jobs from Python: requests submitted to any unary method as one job, watched (resuming after
the last event seen when the connection drops), waited for, and run as a batch whose outcomes
come back decoded, in order."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message

from flowforge.errors import FlowForgeError
from flowforge.jobs.v1 import jobs_pb2
from flowforge.requests import Request, message_class, method_named, request

FINISHED = {jobs_pb2.JOB_STATE_SUCCEEDED, jobs_pb2.JOB_STATE_FAILED, jobs_pb2.JOB_STATE_CANCELLED}


@dataclass(frozen=True)
class Outcome:
    """One request's outcome: ``value`` (its answer) when ``ok``, else ``error``."""

    index: int
    ok: bool
    value: Message | None = None
    error: FlowForgeError | None = None


def _pack(request: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(request)
    return packed


def submit(ff, method: str, requests: Iterable[Request], idempotency_key: str = "") -> jobs_pb2.Job:
    """Submits ``requests`` (messages, or dicts in their JSON form) to ``method``
    (``flowforge.crypto.v1.CryptoService/Hash``) as one job; answers it queued. A dict that does not
    fit raises FlowForgeError naming ``items[i].<field>`` before anything is sent."""
    found = method_named(method)
    items = []
    for i, r in enumerate(requests):
        try:
            items.append(_pack(request(found.input_type, r)))
        except FlowForgeError as err:
            raise _item_error(i, err) from None
    full = f"{found.containing_service.full_name}/{found.name}"
    submitted = jobs_pb2.SubmitJobRequest(method=full, items=items, idempotency_key=idempotency_key)
    return ff.jobs.SubmitJob(submitted).job


def _item_error(index: int, err: FlowForgeError) -> FlowForgeError:
    """``err`` about item ``index``: each field named ``items[index].<field>``."""
    violations = [type(v)(f"items[{index}].{v.field}", v.description) for v in err.violations]
    return FlowForgeError(err.code, f"items[{index}].{err.message}", violations=violations)


def watch(ff, job_id: str, retries: int = 5) -> Iterator[jobs_pb2.WatchJobResponse]:
    """The job's events until it has finished, resumed after the last one seen if the connection drops."""
    after, failures = 0, 0
    while True:
        try:
            for event in ff.jobs.WatchJob(jobs_pb2.WatchJobRequest(job_id=job_id, after_sequence=after), timeout=None):
                failures, after = 0, event.sequence
                yield event
            return
        except FlowForgeError as err:
            failures += 1
            if err.code is not grpc.StatusCode.UNAVAILABLE or failures > retries:
                raise
            time.sleep(0.2 * 2**failures)


def get(ff, job_id: str) -> jobs_pb2.Job:
    """The job with every item (paged through)."""
    items, token = [], ""
    while True:
        job = ff.jobs.GetJob(jobs_pb2.GetJobRequest(job_id=job_id, items_page_size=1000, items_page_token=token)).job
        items += list(job.items)
        token = job.next_items_page_token
        if not token:
            del job.items[:]
            job.items.extend(items)
            return job


def wait(ff, job_id: str, on_progress: Callable[[jobs_pb2.JobCounts, int], None] | None = None) -> jobs_pb2.Job:
    """Waits for the job to finish (``on_progress(counts, state)`` after each event); answers it with every item."""
    for event in watch(ff, job_id):
        kind = event.WhichOneof("event")
        if kind in ("state_changed", "item_finished") and on_progress:
            value = getattr(event, kind)
            on_progress(value.counts, value.state if kind == "state_changed" else jobs_pb2.JOB_STATE_RUNNING)
        if kind == "state_changed" and event.state_changed.state in FINISHED:
            break
    return get(ff, job_id)


def outcomes(job: jobs_pb2.Job) -> list[Outcome]:
    """Each item of a finished job as its decoded answer or its error, by index."""
    found = []
    for item in sorted(job.items, key=lambda i: i.index):
        if item.HasField("result"):
            value = message_class(item.result.TypeName())()
            item.result.Unpack(value)
            found.append(Outcome(item.index, True, value=value))
        else:
            found.append(Outcome(item.index, False, error=FlowForgeError.from_status(item.error)))
    return found


def run(ff, method: str, requests: Iterable[Request], on_progress=None, idempotency_key: str = "") -> list[Outcome]:
    """Runs ``requests`` through ``method`` as one job; answers each one's outcome, in order."""
    return outcomes(wait(ff, submit(ff, method, requests, idempotency_key).id, on_progress))
