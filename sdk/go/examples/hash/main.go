// Calls CryptoService/Hash through the FlowForge gateway with the Go SDK, reads an error's bad
// field, runs requests as one job, and meets a refused key and a gateway that does not answer.
// Usage: hash <host:port> <api-key> [<host:port> where nothing listens]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	flowforge "github.com/flowforge/flowforge/sdk/go"
	cryptov1 "github.com/flowforge/flowforge/sdk/go/gen/flowforge/crypto/v1"
	jobsv1 "github.com/flowforge/flowforge/sdk/go/gen/flowforge/jobs/v1"
	"google.golang.org/protobuf/proto"
)

func main() {
	unreachable := ""
	if len(os.Args) > 3 {
		unreachable = os.Args[3]
	}
	if err := run(os.Args[1], os.Args[2], unreachable); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(target, key, unreachable string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ff, err := flowforge.Dial(target, key)
	if err != nil {
		return err
	}
	defer ff.Close()
	out := map[string]interface{}{"version": flowforge.Version}

	abc := &cryptov1.HashRequest{Algorithm: cryptov1.HashAlgorithm_HASH_ALGORITHM_SHA256, Input: &cryptov1.HashRequest_Text{Text: "abc"}}
	res, err := ff.Crypto.Hash(ctx, abc)
	if err != nil {
		return err
	}
	out["digest"] = res.GetDigest()

	_, err = ff.Crypto.Hash(ctx, &cryptov1.HashRequest{Input: &cryptov1.HashRequest_Text{Text: "abc"}})
	var refused *flowforge.Error
	if errors.As(err, &refused) {
		out["missing"] = map[string]interface{}{"code": refused.Code.String(), "fields": refused.Fields(), "requestId": refused.RequestID != ""}
	}

	var progress uint32
	outcomes, err := ff.Run(ctx, "flowforge.crypto.v1.CryptoService/Hash",
		[]proto.Message{abc, &cryptov1.HashRequest{Input: &cryptov1.HashRequest_Text{Text: "x"}}},
		func(c *jobsv1.JobCounts) { progress = c.GetSucceeded() + c.GetFailed() })
	if err != nil {
		return err
	}
	batch := []interface{}{}
	for _, o := range outcomes {
		if o.Err != nil {
			batch = append(batch, o.Err.Fields())
		} else {
			batch = append(batch, o.Value.(*cryptov1.HashResponse).GetDigest())
		}
	}
	out["batch"], out["progress"] = batch, progress

	wrong, err := flowforge.Dial(target, "ffk_wrong")
	if err != nil {
		return err
	}
	defer wrong.Close()
	if _, err := wrong.Crypto.Hash(ctx, abc); errors.As(err, &refused) {
		out["wrongKey"] = refused.Code.String()
	}

	if unreachable != "" {
		gone, err := flowforge.Dial(unreachable, key)
		if err != nil {
			return err
		}
		defer gone.Close()
		if _, err := gone.Crypto.Hash(ctx, abc); errors.As(err, &refused) {
			out["unreachable"] = map[string]interface{}{"code": refused.Code.String(), "message": refused.Error()}
		}
	}
	text, err := json.Marshal(out)
	if err != nil {
		return err
	}
	fmt.Println(string(text))
	return nil
}
