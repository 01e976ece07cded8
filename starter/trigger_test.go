package starter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/internal/runctx"
)

// newOfflineClient is a Client whose server does not exist: a call that
// reaches the network fails with ErrServerUnreachable, so an error of
// another kind proves that nothing was sent.
func newOfflineClient(tb testing.TB, opts Options) *Client {
	tb.Helper()
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = 2 * time.Second
	}
	s, err := NewLazy(client.Options{HostPort: "127.0.0.1:1"}, opts)
	require.NoError(tb, err)
	tb.Cleanup(s.Close)
	return s
}

// TestReplacementRequestIDIgnoresTheCaller: callers that replace the same
// run with different TTLs, payloads and strictness send one request ID (so
// that the server dedupes them onto one run); the request ID of a new key
// stays the caller's, and the new run's TTL and payload hash go to its
// memo, with the caller's own start nonce.
func TestReplacementRequestIDIgnoresTheCaller(t *testing.T) {
	s := newOfflineClient(t, Options{})
	ctx := context.Background()
	const replaced = "0192e7a4-0000-7000-8000-000000000000"
	var ids []string
	for i, opts := range []TriggerOptions{
		{Key: idempotency.Parts{"k"}},
		{Key: idempotency.Parts{"k"}, TTL: time.Hour},
		{Key: idempotency.Parts{"k"}, TTL: 3 * time.Hour, Strict: true},
		{Key: idempotency.Parts{"k"}, TTL: 90 * time.Minute, RetryFailed: true},
	} {
		p, err := s.prepare(ctx, "task", map[string]any{"caller": i}, opts, nil)
		require.NoError(t, err)
		newID, ok := parseRequestID(p.start.requestID)
		require.True(t, ok)
		require.Equal(t, kindNew, newID.kind)
		require.Equal(t, p.ttl, newID.ttl, "a new key's request ID carries the TTL")

		nonce := fmt.Sprintf("nonce-%d", i)
		req := s.replacement(p, replaced, enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE, nonce)
		ids = append(ids, req.requestID)
		require.Equal(t, p.start.workflowID, req.workflowID)
		require.Equal(t, enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE, p.start.policy, "the new key's start is left as it was")
		m := decodeMemoFields(t, req.memo)
		require.WithinDuration(t, time.Now().Add(p.ttl), m.ExpiresAt, time.Minute, "the replacement's memo has the caller's TTL")
		h, err := idempotency.PayloadHash(map[string]any{"caller": i})
		require.NoError(t, err)
		require.Equal(t, string(h), m.PayloadHash, "the replacement's memo has the payload hash, strict or not")
		require.Equal(t, nonce, m.StartNonce, "the replacement's memo has the caller's own start nonce")
	}
	for _, id := range ids {
		require.Equal(t, ids[0], id)
	}
}

// TestInputErrorsBeforeAnyRPC: negative durations and a payload over the
// limit are input errors (once.ErrInvalidInput) found before any RPC.
func TestInputErrorsBeforeAnyRPC(t *testing.T) {
	big := strings.Repeat("x", DefaultMaxPayloadBytes)
	tests := []struct {
		name    string
		limit   int
		payload any
		opts    TriggerOptions
		want    error
	}{
		{"negative StartDelay", 0, nil, TriggerOptions{StartDelay: -time.Second}, ErrNegativeDuration},
		{"payload over the default limit", 0, big, TriggerOptions{Key: idempotency.Parts{"k"}}, ErrPayloadTooLarge},
		{"payload over a set limit", 100, strings.Repeat("y", 200), TriggerOptions{}, ErrPayloadTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newOfflineClient(t, Options{MaxPayloadBytes: tt.limit})
			run, err := s.Trigger(context.Background(), "task", tt.payload, tt.opts)
			require.Nil(t, run)
			require.ErrorIs(t, err, tt.want)
			require.ErrorIs(t, err, once.ErrInvalidInput)
			require.False(t, errors.Is(err, ErrServerUnreachable), "an RPC was made: %v", err)
		})
	}

	t.Run("size and limit in the message", func(t *testing.T) {
		s := newOfflineClient(t, Options{MaxPayloadBytes: 1000})
		_, err := s.Trigger(context.Background(), "task", strings.Repeat("z", 5000), TriggerOptions{})
		var tooLarge *PayloadTooLargeError
		require.ErrorAs(t, err, &tooLarge)
		require.Equal(t, 1000, tooLarge.Limit)
		require.Greater(t, tooLarge.Size, 5000)
		require.Contains(t, err.Error(), fmt.Sprintf("%d bytes", tooLarge.Size))
		require.Contains(t, err.Error(), "limit is 1000")
	})

	t.Run("the limit is inclusive", func(t *testing.T) {
		s := newOfflineClient(t, Options{})
		n := DefaultMaxPayloadBytes // the longest string whose payload fits
		for encodedSize(t, s, big[:n]) > DefaultMaxPayloadBytes {
			n--
		}
		_, err := s.Trigger(context.Background(), "task", big[:n], TriggerOptions{})
		require.ErrorIs(t, err, ErrServerUnreachable, "a payload of the limit goes on to the server")
		_, err = s.Trigger(context.Background(), "task", big[:n]+"x", TriggerOptions{})
		require.ErrorIs(t, err, ErrPayloadTooLarge)
	})
}

// TestUnknownTask: with Options.Tasks, a trigger, batch, reset, lookup or
// list of another task is ErrUnknownTask (an input error) before any RPC,
// with a message that names the task and the tasks the client knows; the
// tasks it knows go on to the server.
func TestUnknownTask(t *testing.T) {
	ctx := context.Background()
	s := newOfflineClient(t, Options{Tasks: []string{"hello", "my-task"}})
	key := idempotency.Parts{"k"}
	calls := map[string]func(task string) error{
		"trigger": func(task string) error { _, err := s.Trigger(ctx, task, nil, TriggerOptions{Key: key}); return err },
		"batch": func(task string) error {
			res, err := s.BatchTrigger(ctx, task, []BatchItem{{Options: TriggerOptions{Key: key}}}, BatchOptions{})
			if err == nil {
				err = res[0].Err
			}
			return err
		},
		"reset":  func(task string) error { return s.ResetKey(ctx, task, key, ResetOptions{}) },
		"lookup": func(task string) error { _, err := s.Lookup(ctx, task, key, LookupOptions{}); return err },
		"list":   func(task string) error { _, err := s.ListRuns(ctx, task, ListOptions{}); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call("hellp")
			require.ErrorIs(t, err, ErrUnknownTask)
			require.ErrorIs(t, err, once.ErrInvalidInput)
			require.Contains(t, err.Error(), `unknown task "hellp": this client knows only the tasks of Options.Tasks (hello, my-task)`)
			require.False(t, errors.Is(err, ErrServerUnreachable), "an RPC was made: %v", err)

			require.ErrorIs(t, call("hello"), ErrServerUnreachable, "a task of Options.Tasks goes on to the server")
		})
	}

	t.Run("without Options.Tasks, any task", func(t *testing.T) {
		s := newOfflineClient(t, Options{})
		_, err := s.Trigger(ctx, "hellp", nil, TriggerOptions{})
		require.ErrorIs(t, err, ErrServerUnreachable)
	})

	t.Run("an invalid task ID in Options.Tasks", func(t *testing.T) {
		_, err := NewLazy(client.Options{HostPort: "127.0.0.1:1"}, Options{Tasks: []string{"hello", "-bad"}})
		require.ErrorIs(t, err, idempotency.ErrInvalidTaskID)
	})

	t.Run("Options returns a copy", func(t *testing.T) {
		tasks := s.Options().Tasks
		tasks[0] = "other"
		require.Equal(t, []string{"hello", "my-task"}, s.Options().Tasks)
	})
}

func encodedSize(tb testing.TB, s *Client, v any) int {
	tb.Helper()
	p, err := s.decoder(context.Background(), "prod/task/x").ToPayloads(v)
	require.NoError(tb, err)
	return proto.Size(p)
}

// decodeMemoFields encodes memo entries as a start does (with the default
// data converter) and reads Once's entries back.
func decodeMemoFields(tb testing.TB, fields map[string]any) idempotency.Memo {
	tb.Helper()
	m := &commonpb.Memo{Fields: map[string]*commonpb.Payload{}}
	for k, v := range fields {
		p, err := converter.GetDefaultDataConverter().ToPayload(v)
		require.NoError(tb, err)
		m.Fields[k] = p
	}
	return runctx.DecodeMemo(m, nil)
}
