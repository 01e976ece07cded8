package starterapp

import (
	"context"
	"fmt"
	"io"

	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/oncetest"
	"github.com/once-run/once/starter"
)

func (r *runner) history(ctx context.Context, args []string) error {
	fs := r.newFlagSet("history", "history <task> --key PART... --out DIR")
	common := r.addCommon(fs)
	var keys stringsFlag
	fs.Var(&keys, "key", "idempotency key part (repeatable)")
	out := fs.String("out", "", "folder for the history files, one per attempt (created when missing); replay them with oncetest.ReplayDir")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	task, err := taskArg("history", pos)
	if err != nil {
		return err
	}
	key, err := requireKey(keys)
	if err != nil {
		return err
	}
	if *out == "" {
		return usagef("--out is required")
	}
	s, closeClient, err := r.connect(ctx, common)
	if err != nil {
		return err
	}
	defer closeClient()
	return recordHistory(ctx, s, task, key, *out, r.stdout)
}

// recordHistory writes every attempt of the run that holds task and key
// into dir (oncetest.RecordRun: one history file per attempt, with the
// workflow ID, attempt and environment stored in it) and lists the files
// on w.
//
// Errors: those of starter.Client.Lookup (starter.ErrNotFound when no run
// holds the key), a reset key (no run to record), the client's and the file
// system's.
func recordHistory(ctx context.Context, s *starter.Client, task string, key idempotency.Input, dir string, w io.Writer) error {
	info, err := s.Lookup(ctx, task, key, starter.LookupOptions{})
	if err != nil {
		return err
	}
	if info.Reset {
		return fmt.Errorf("task %s key %s was reset: there is no run to record", task, idempotency.Text(key))
	}
	paths, err := oncetest.RecordRun(ctx, s.Temporal(), info.WorkflowID, dir)
	for _, p := range paths {
		fmt.Fprintf(w, "wrote    %s\n", p)
	}
	if err != nil {
		return fmt.Errorf("record %s: %w", info.WorkflowID, err)
	}
	return nil
}
