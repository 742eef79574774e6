// Package flowforge is FlowForge's Go SDK: the public contracts' messages and gRPC clients
// (gen/flowforge/<capability>/v1, generated from proto/ by buf), a client that sends the key
// with every call, errors that name the bad fields, and jobs.
package flowforge

import (
	"context"
	"errors"
	"fmt"
	"strings"

	accountv1 "github.com/flowforge/flowforge/sdk/go/gen/flowforge/account/v1"
	adminv1 "github.com/flowforge/flowforge/sdk/go/gen/flowforge/admin/v1"
	blobv1 "github.com/flowforge/flowforge/sdk/go/gen/flowforge/blob/v1"
	cryptov1 "github.com/flowforge/flowforge/sdk/go/gen/flowforge/crypto/v1"
	imagev1 "github.com/flowforge/flowforge/sdk/go/gen/flowforge/image/v1"
	jobsv1 "github.com/flowforge/flowforge/sdk/go/gen/flowforge/jobs/v1"
	llmv1 "github.com/flowforge/flowforge/sdk/go/gen/flowforge/llm/v1"
	mathv1 "github.com/flowforge/flowforge/sdk/go/gen/flowforge/math/v1"
	ocrv1 "github.com/flowforge/flowforge/sdk/go/gen/flowforge/ocr/v1"
	pdfv1 "github.com/flowforge/flowforge/sdk/go/gen/flowforge/pdf/v1"
	transformv1 "github.com/flowforge/flowforge/sdk/go/gen/flowforge/transform/v1"
	vectorv1 "github.com/flowforge/flowforge/sdk/go/gen/flowforge/vector/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Version is the SDK's version: the contracts' (the repository's).
const Version = "0.1.0"

// Client holds a gRPC connection to the gateway and a client per public service, by the name
// it answers under.
type Client struct {
	Conn      *grpc.ClientConn
	Account   accountv1.AccountServiceClient
	Admin     adminv1.AdminServiceClient
	Blobs     blobv1.BlobServiceClient
	Crypto    cryptov1.CryptoServiceClient
	Data      transformv1.TransformServiceClient
	Image     imagev1.ImageServiceClient
	Jobs      jobsv1.JobServiceClient
	Llm       llmv1.LlmServiceClient
	Math      mathv1.MathServiceClient
	Ocr       ocrv1.OcrServiceClient
	Pdf       pdfv1.PdfServiceClient
	Vector    vectorv1.VectorServiceClient
	Transform transformv1.TransformServiceClient
}

// Dial connects to the gateway at target (host:port) with an API key or a JWT. Without
// options the connection is plaintext; pass grpc.WithTransportCredentials for TLS.
func Dial(target, apiKey string, options ...grpc.DialOption) (*Client, error) {
	auth := func(ctx context.Context) context.Context {
		if apiKey == "" {
			return ctx
		}
		return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+apiKey)
	}
	all := []grpc.DialOption{
		grpc.WithInsecure(),
		grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply interface{}, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return AsError(invoker(auth(ctx), method, req, reply, cc, opts...))
		}),
		grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			stream, err := streamer(auth(ctx), desc, cc, method, opts...)
			if err != nil {
				return nil, AsError(err)
			}
			return errorStream{stream}, nil
		}),
	}
	conn, err := grpc.Dial(target, append(all, options...)...)
	if err != nil {
		return nil, err
	}
	return &Client{
		Conn:      conn,
		Account:   accountv1.NewAccountServiceClient(conn),
		Admin:     adminv1.NewAdminServiceClient(conn),
		Blobs:     blobv1.NewBlobServiceClient(conn),
		Crypto:    cryptov1.NewCryptoServiceClient(conn),
		Data:      transformv1.NewTransformServiceClient(conn),
		Image:     imagev1.NewImageServiceClient(conn),
		Jobs:      jobsv1.NewJobServiceClient(conn),
		Llm:       llmv1.NewLlmServiceClient(conn),
		Math:      mathv1.NewMathServiceClient(conn),
		Ocr:       ocrv1.NewOcrServiceClient(conn),
		Pdf:       pdfv1.NewPdfServiceClient(conn),
		Vector:    vectorv1.NewVectorServiceClient(conn),
		Transform: transformv1.NewTransformServiceClient(conn),
	}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.Conn.Close() }

// errorStream turns a stream's errors into *Error.
type errorStream struct{ grpc.ClientStream }

func (s errorStream) RecvMsg(m interface{}) error { return AsError(s.ClientStream.RecvMsg(m)) }

// FieldViolation is a field the gateway or a capability refused, and why.
type FieldViolation struct {
	Field       string
	Description string
}

// Error is a failed call's or job item's error: its code, message, each bad field (from
// google.rpc.BadRequest) and the request id (google.rpc.RequestInfo).
type Error struct {
	Code       codes.Code
	Message    string
	Violations []FieldViolation
	RequestID  string
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", strings.ToLower(e.Code.String()), e.Message)
	for _, v := range e.Violations {
		fmt.Fprintf(&b, "\n  %s: %s", v.Field, v.Description)
	}
	return b.String()
}

// Fields names the fields that were wrong.
func (e *Error) Fields() []string {
	fields := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		fields[i] = v.Field
	}
	return fields
}

// AsError is err as an *Error (nil for nil; io.EOF and context errors pass through as they are).
func AsError(err error) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	return fromStatus(st)
}

func fromStatus(st *status.Status) *Error {
	out := &Error{Code: st.Code(), Message: st.Message()}
	for _, detail := range st.Details() {
		switch d := detail.(type) {
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				out.Violations = append(out.Violations, FieldViolation{Field: v.GetField(), Description: v.GetDescription()})
			}
		case *errdetails.RequestInfo:
			out.RequestID = d.GetRequestId()
		}
	}
	return out
}
