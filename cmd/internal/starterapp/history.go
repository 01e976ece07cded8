package starterapp

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
)

func (r *runner) historyCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "history <task>",
		Short: "Write every attempt of a key's run as replay files",
		Long: `Record the run that holds a key: one history file per execution (each
attempt, and the worker's restart of a run started without the task's retry
policy or timeouts), with the workflow ID, attempt and environment stored
beside the history, for replay tests (oncetest.ReplayDir). The folder is
created when missing.`,
		Example: example(r.m.DisplayName,
			`history hello --key order-42 --out testdata/replay`,
			`history place-order --key order-42 --out testdata/replay --output json`),
		Args:              r.taskArgs,
		ValidArgsFunction: r.completeTask,
	}
	fs := c.Flags()
	fs.SortFlags = false
	keys := fs.StringArray("key", nil, "idempotency key `PART`; can be passed multiple times")
	out := fs.String("out", "", "`FOLDER` for the history files, one per execution (created when missing); replay them with oncetest.ReplayDir")
	r.addConnectFlags(c)
	_ = c.MarkFlagDirname("out")
	checkOut := func() error {
		if *out == "" {
			return usagef("--out is required")
		}
		return nil
	}
	c.RunE = r.keyRunE(keys, checkOut, func(c *cobra.Command, s *starter.Client, task string, key idempotency.TriggerKey) error {
		paths, err := recordHistory(c.Context(), s, task, key, *out)
		if printErr := printList(r, historyOutputs(paths), func(w io.Writer, f historyFile) {
			fmt.Fprintf(w, "wrote    %s\n", f.File)
		}); printErr != nil {
			return printErr
		}
		return err
	})
	return c
}

// historyFile is one output line of history.
type historyFile struct {
	File string `json:"file"`
}

func historyOutputs(paths []string) []historyFile {
	out := make([]historyFile, len(paths))
	for i, p := range paths {
		out[i] = historyFile{File: p}
	}
	return out
}

// recordHistory writes every attempt of the run that holds task and key
// into dir (starter.RecordRun: one history file per execution, with the
// workflow ID, attempt and environment stored in it) and returns the files
// written, also when it fails part way.
//
// Errors: those of starter.Client.Lookup (starter.ErrNotFound when no run
// holds the key), a reset key (no run to record), the client's and the file
// system's.
func recordHistory(ctx context.Context, s *starter.Client, task string, key idempotency.Input, dir string) ([]string, error) {
	info, err := s.Lookup(ctx, task, key, starter.LookupOptions{})
	if err != nil {
		return nil, err
	}
	if info.Reset {
		return nil, fmt.Errorf("task %s key %s was reset: there is no run to record", task, idempotency.Text(key))
	}
	paths, err := starter.RecordRun(ctx, s.Temporal(), info.WorkflowID, dir)
	if err != nil {
		return paths, fmt.Errorf("record %s: %w", info.WorkflowID, err)
	}
	return paths, nil
}
