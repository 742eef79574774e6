package flowforge

import (
	"context"
	"io"
	"sort"
	"time"

	jobsv1 "github.com/flowforge/flowforge/sdk/go/gen/flowforge/jobs/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Outcome is one request's outcome: its answer (Value) or its error (Err), by index.
type Outcome struct {
	Index int
	Value proto.Message
	Err   *Error
}

// Submit runs requests through method (flowforge.crypto.v1.CryptoService/Hash) as one job and
// answers it queued.
func (c *Client) Submit(ctx context.Context, method string, requests []proto.Message) (*jobsv1.Job, error) {
	items := make([]*anypb.Any, len(requests))
	for i, r := range requests {
		packed, err := anypb.New(r)
		if err != nil {
			return nil, err
		}
		items[i] = packed
	}
	res, err := c.Jobs.SubmitJob(ctx, &jobsv1.SubmitJobRequest{Method: method, Items: items})
	if err != nil {
		return nil, err
	}
	return res.GetJob(), nil
}

// Watch calls onEvent with each of the job's events until it has finished, resuming after the
// last event seen when the connection drops (at most five times in a row).
func (c *Client) Watch(ctx context.Context, jobID string, onEvent func(*jobsv1.WatchJobResponse)) error {
	var after uint64
	failures := 0
	for {
		stream, err := c.Jobs.WatchJob(ctx, &jobsv1.WatchJobRequest{JobId: jobID, AfterSequence: after})
		for err == nil {
			var event *jobsv1.WatchJobResponse
			event, err = stream.Recv()
			if err == io.EOF {
				return nil
			}
			if err == nil {
				failures, after = 0, event.GetSequence()
				onEvent(event)
			}
		}
		if e, ok := err.(*Error); !ok || e.Code != codes.Unavailable || failures >= 5 {
			return err
		}
		failures++
		time.Sleep(time.Duration(200<<failures) * time.Millisecond)
	}
}

// Wait waits for the job to finish and answers it with every item.
func (c *Client) Wait(ctx context.Context, jobID string, onProgress func(*jobsv1.JobCounts)) (*jobsv1.Job, error) {
	err := c.Watch(ctx, jobID, func(event *jobsv1.WatchJobResponse) {
		if onProgress == nil {
			return
		}
		if s := event.GetStateChanged(); s != nil {
			onProgress(s.GetCounts())
		} else if f := event.GetItemFinished(); f != nil {
			onProgress(f.GetCounts())
		}
	})
	if err != nil {
		return nil, err
	}
	var items []*jobsv1.JobItem
	token := ""
	for {
		res, err := c.Jobs.GetJob(ctx, &jobsv1.GetJobRequest{JobId: jobID, ItemsPageSize: 1000, ItemsPageToken: token})
		if err != nil {
			return nil, err
		}
		items = append(items, res.GetJob().GetItems()...)
		if token = res.GetJob().GetNextItemsPageToken(); token == "" {
			job := res.GetJob()
			job.Items = items
			return job, nil
		}
	}
}

// Outcomes is each item of a finished job as its decoded answer or its error, by index.
func Outcomes(job *jobsv1.Job) ([]Outcome, error) {
	items := append([]*jobsv1.JobItem(nil), job.GetItems()...)
	sort.Slice(items, func(i, j int) bool { return items[i].GetIndex() < items[j].GetIndex() })
	out := make([]Outcome, len(items))
	for i, item := range items {
		out[i].Index = int(item.GetIndex())
		if item.GetResult() != nil {
			value, err := item.GetResult().UnmarshalNew()
			if err != nil {
				return nil, err
			}
			out[i].Value = value
		} else {
			out[i].Err = fromStatus(status.FromProto(item.GetError()))
		}
	}
	return out, nil
}

// Run runs requests through method as one job and answers each one's outcome, in order.
func (c *Client) Run(ctx context.Context, method string, requests []proto.Message, onProgress func(*jobsv1.JobCounts)) ([]Outcome, error) {
	job, err := c.Submit(ctx, method, requests)
	if err != nil {
		return nil, err
	}
	if job, err = c.Wait(ctx, job.GetId(), onProgress); err != nil {
		return nil, err
	}
	return Outcomes(job)
}
