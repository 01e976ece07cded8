package starter

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
)

// HistoryMetadata is what a history file (a replay file) stores beside the
// history: what a replay needs and the history does not hold (the workflow
// ID, from which Once's tasks read their environment), and what names the
// run for a reader. RecordRun writes history files; oncetest.ReplayDir and
// oncetest.ReplayFile replay them.
//
// A history file is the JSON of a Temporal history, as `temporal workflow
// show --output json` and client.HistoryFromJSON read and write it, with one
// more top-level field "once" that holds the HistoryMetadata (history readers
// ignore it):
//
//	{
//	  "once": {"workflowId": "dev/my-task/39ae…", "runId": "…", "firstRunId": "…",
//	           "attempt": 2, "task": "my-task", "environment": "dev"},
//	  "events": [ … ]
//	}
type HistoryMetadata struct {
	// WorkflowID of the run. Required for a replay.
	WorkflowID string `json:"workflowId"`
	// RunID of this execution (one attempt of the run).
	RunID string `json:"runId,omitempty"`
	// FirstRunID is the run's stable ID, the first execution of its chain.
	FirstRunID string `json:"firstRunId,omitempty"`
	// Attempt of the run this execution is, 1-based.
	Attempt int32 `json:"attempt,omitempty"`
	// Task is the task ID (the workflow type).
	Task string `json:"task,omitempty"`
	// Environment the run belongs to. Optional for a replay when the
	// workflow ID has Once's shape "<env>/<task>/<key>".
	Environment string `json:"environment,omitempty"`
}

// RecordRun writes every attempt of the run that holds workflowID — every
// execution of the chain of its latest execution: the first attempt, its
// retries (and continuations) up to the latest — into dir, one history file
// per execution with its HistoryMetadata (see HistoryMetadata for the
// format), for replay tests (oncetest.ReplayDir); the CLI's "starter
// history" records the same way. The files are named
// "<task>-<short ID>-<n>.json", n counting the executions of the chain from
// 1 (the attempt, for a run without continue-as-new); an existing file of
// that name is replaced. It returns the paths written, first execution
// first.
//
// A run still open is recorded as far as it got. Record runs of a worker
// with fixed identities if the files are committed: the history holds the
// worker's identity (host name and process ID by default).
//
// Errors: the client's (serviceerror.NotFound when no run holds
// workflowID), or the file system's.
func RecordRun(ctx context.Context, c client.Client, workflowID, dir string) ([]string, error) {
	desc, err := c.DescribeWorkflowExecution(ctx, workflowID, "")
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", workflowID, err)
	}
	type execution struct {
		meta HistoryMetadata
		h    *historypb.History
	}
	var chain []execution
	seen := map[string]bool{}
	for runID := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId(); runID != "" && !seen[runID]; {
		seen[runID] = true
		h, err := readHistory(ctx, c, workflowID, runID)
		if err != nil {
			return nil, err
		}
		started := h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes()
		if started == nil {
			return nil, fmt.Errorf("history of %s run %s does not start with WorkflowExecutionStarted", workflowID, runID)
		}
		meta := HistoryMetadata{
			WorkflowID: workflowID,
			RunID:      runID,
			FirstRunID: started.GetFirstExecutionRunId(),
			Attempt:    started.GetAttempt(),
			Task:       started.GetWorkflowType().GetName(),
		}
		// The environment is in the workflow ID; a run of an earlier version
		// whose ID does not parse may name it in its memo.
		meta.Environment, _, _, _ = idempotency.ParseWorkflowID(workflowID)
		if meta.Environment == "" {
			meta.Environment = memoString(started.GetMemo().GetFields()[once.MemoEnvironment])
		}
		chain = append(chain, execution{meta, h})
		if runID == meta.FirstRunID {
			break
		}
		runID = started.GetContinuedExecutionRunId()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	for i := len(chain) - 1; i >= 0; i-- {
		x := chain[i]
		path := filepath.Join(dir, fmt.Sprintf("%s-%s-%d.json", fileSafe(x.meta.Task), shortID(workflowID), len(chain)-i))
		if err := WriteHistoryFile(path, x.meta, x.h); err != nil {
			return paths, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// readHistory reads the whole history of one execution.
func readHistory(ctx context.Context, c client.Client, workflowID, runID string) (*historypb.History, error) {
	it := c.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("history of %s run %s: %w", workflowID, runID, err)
		}
		h.Events = append(h.Events, ev)
	}
	if len(h.Events) == 0 {
		return nil, fmt.Errorf("history of %s run %s is empty", workflowID, runID)
	}
	return h, nil
}

// WriteHistoryFile writes h with meta in the history file format (see
// HistoryMetadata), indented so that a re-recorded file gives a small diff.
func WriteHistoryFile(path string, meta HistoryMetadata, h *historypb.History) error {
	b, err := protojson.Marshal(h)
	if err != nil {
		return err
	}
	var hist bytes.Buffer
	if err := json.Indent(&hist, b, "", "  "); err != nil {
		return err
	}
	events, ok := bytes.CutPrefix(hist.Bytes(), []byte("{\n"))
	if !ok {
		return fmt.Errorf("history of %s: unexpected JSON form", meta.WorkflowID)
	}
	m, err := json.MarshalIndent(meta, "  ", "  ")
	if err != nil {
		return err
	}
	var out bytes.Buffer
	out.WriteString("{\n  \"once\": ")
	out.Write(m)
	out.WriteString(",\n")
	out.Write(events)
	out.WriteByte('\n')
	return os.WriteFile(path, out.Bytes(), 0o644)
}

// ReadHistoryFile reads a history file: the history, and the HistoryMetadata
// stored with it (zero when the file has none, e.g. written by `temporal
// workflow show`).
func ReadHistoryFile(path string) (*historypb.History, HistoryMetadata, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, HistoryMetadata{}, err
	}
	var wrapper struct {
		Once HistoryMetadata `json:"once"`
	}
	if err := json.Unmarshal(b, &wrapper); err != nil {
		return nil, HistoryMetadata{}, fmt.Errorf("%s: %w", path, err)
	}
	h, err := client.HistoryFromJSON(bytes.NewReader(b), client.HistoryJSONOptions{})
	if err != nil {
		return nil, HistoryMetadata{}, fmt.Errorf("%s: %w", path, err)
	}
	return h, wrapper.Once, nil
}

// memoString decodes a memo value written as a string; "" otherwise.
func memoString(p *commonpb.Payload) string {
	var s string
	if p == nil || converter.GetDefaultDataConverter().FromPayload(p, &s) != nil {
		return ""
	}
	return s
}

// fileSafe keeps the characters of s that are safe in a file name.
func fileSafe(s string) string {
	return unsafeChars.ReplaceAllString(s, "_")
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// shortID names a workflow ID in a file name: the first 12 characters of
// the key of a Once workflow ID, else the ID made file-safe (at most 40
// characters).
func shortID(workflowID string) string {
	if _, _, key, ok := idempotency.ParseWorkflowID(workflowID); ok {
		return fileSafe(key[:min(12, len(key))])
	}
	s := fileSafe(workflowID)
	return s[:min(40, len(s))]
}
