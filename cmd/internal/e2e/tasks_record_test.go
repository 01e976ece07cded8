package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/once-run/once"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/once-run/once/cmd/internal/shared"
	"github.com/once-run/once/examples"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
	"github.com/once-run/once/worker"
)

// recordEnv turns TestTasksRecordHistories on.
const recordEnv = "ONCE_RECORD_HISTORIES"

// replayDir is where the workflows package's replay test reads histories,
// relative to this package.
var replayDir = filepath.Join("..", "..", "..", "examples", "testdata", "replay")

// TestTasksRecordHistories records one history per example task on the
// embedded server into workflows/testdata/replay (<name>.json, and the
// workflow ID of each in workflow-ids.tsv), for the replay test in package
// workflows. It runs only with ONCE_RECORD_HISTORIES=1:
//
//	ONCE_RECORD_HISTORIES=1 go test -count=1 -run TestTasksRecordHistories ./internal/e2e/
//
// my-task is recorded twice: its first attempt (starts the child) and its
// last (the server refuses the start, the attempt attaches).
func TestTasksRecordHistories(t *testing.T) {
	if os.Getenv(recordEnv) != "1" {
		t.Skipf("set %s=1 to record replay histories", recordEnv)
	}
	// Fixed identities keep this machine's name and PIDs out of the files.
	const env, identity = "record", "once-record"
	ctx0, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx0, client.Options{HostPort: srv.Address(), Namespace: srv.Namespace(), Logger: shared.DiscardLogger(), Identity: identity})
	require.NoError(t, err)
	defer c.Close()
	configs := map[string]once.TaskConfig{}
	for _, d := range examples.Tasks() {
		configs[d.ID()] = d.Config()
	}
	st, err := starter.New(c, starter.Options{Environment: env, Namespace: srv.Namespace(), Tasks: configs, Logger: shared.DiscardLogger(), Identity: identity})
	require.NoError(t, err)
	w, err := worker.New(c, worker.Options{
		Environment: env, Namespace: srv.Namespace(), Tasks: examples.Tasks(), Logger: shared.DiscardLogger(),
		Worker: sdkworker.Options{Identity: identity},
	})
	require.NoError(t, err)
	w.RegisterActivity(&examples.Activities{Starter: w.Starter()})
	require.NoError(t, w.Start())
	defer w.Stop()
	ctx := testCtx(t, 2*time.Minute)
	require.NoError(t, os.MkdirAll(replayDir, 0o755))

	// The replayer needs each history's workflow ID (it is not in the
	// history): Once's tasks read the environment from it.
	var ids []string
	record := func(name string, task string, payload any, runIDOf func(*starter.Run) string) {
		t.Helper()
		run, err := st.TriggerAndWait(ctx, task, payload, nil, starter.TriggerOptions{Key: idempotency.Parts{"replay", name}})
		require.NoError(t, err)
		h := runHistory(t, ctx, c, run.WorkflowID, runIDOf(run))
		// protojson varies its whitespace on purpose; json.Indent makes the
		// files stable, so that re-recording gives small diffs.
		b, err := protojson.Marshal(h)
		require.NoError(t, err)
		var out bytes.Buffer
		require.NoError(t, json.Indent(&out, b, "", "  "))
		out.WriteByte('\n')
		path := filepath.Join(replayDir, name+".json")
		require.NoError(t, os.WriteFile(path, out.Bytes(), 0o644))
		t.Logf("wrote %s (%d events)", path, len(h.GetEvents()))
		ids = append(ids, name+"\t"+run.WorkflowID)
	}
	first := func(r *starter.Run) string { return r.RunID }
	latest := func(*starter.Run) string { return "" }
	record("hello", examples.Hello.ID(), examples.HelloPayload{Name: "Ada"}, latest)
	record("child-task", examples.ChildTask.ID(), map[string]any{"hello": "world"}, latest)
	record("my-task-attempt-1", examples.MyTask.ID(), examples.MyTaskPayload{FailAttempts: 1}, first)
	record("my-task", examples.MyTask.ID(), examples.MyTaskPayload{FailAttempts: 1}, latest)
	record("activity-trigger-task", examples.ActivityTriggerTask.ID(), examples.ActivityTriggerPayload{FailAttempts: 1}, latest)
	sort.Strings(ids)
	idsPath := filepath.Join(replayDir, "workflow-ids.tsv")
	require.NoError(t, os.WriteFile(idsPath, []byte(strings.Join(ids, "\n")+"\n"), 0o644))
	t.Logf("wrote %s", idsPath)
}
