package starterapp

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
)

// batchLine is one input line of batch.
type batchLine struct {
	Payload json.RawMessage `json:"payload"`
	Key     json.RawMessage `json:"key"` // a string or an array of strings
}

// batchOutput is the result of one input line of batch.
type batchOutput struct {
	Line       int    `json:"line"`
	WorkflowID string `json:"workflowId,omitempty"`
	RunID      string `json:"runId,omitempty"`
	Cached     *bool  `json:"cached,omitempty"`
	Error      string `json:"error,omitempty"`
}

// batchItem is a parsed line.
type batchItem struct {
	line int
	item starter.BatchItem
	err  error // invalid line
}

func (r *runner) batchCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "batch <task>",
		Short: "Trigger a task once per line of a JSONL file",
		Long: `Trigger a task once per line of a JSONL file, each line
{"payload": …, "key": "k" | ["k1", "k2"]}. Results come back in input order, one
per line; a bad line is reported and the others proceed. An item without a key
gets hash(batch key, index), so repeating the batch returns the same runs.

On a terminal a progress bar with the rate and the time left goes to stderr;
elsewhere nothing but the results is printed.`,
		Example: example(r.m.DisplayName,
			`batch hello --file items.jsonl`,
			`batch hello --file items.jsonl --batch-key import-7 --parallel 32 --output jsonl`,
			`batch hello --file - < items.jsonl`,
			`batch charge --file items.jsonl --batch-key import-7 --on-failure release`),
		Args:              r.taskArgs,
		ValidArgsFunction: r.completeTask,
	}
	fs := c.Flags()
	fs.SortFlags = false
	file := fs.String("file", "", "JSONL input `FILE`, one {\"payload\": …, \"key\": \"k\" | [\"k1\", \"k2\"]} per line (\"-\" for stdin)")
	batchKey := fs.String("batch-key", "", "`KEY` of the batch: an item without \"key\" gets hash(batch key, index), so repeating the batch returns the same runs")
	parallel := fs.Int("parallel", starter.DefaultBatchParallelism, "starts in flight at most")
	onFailure := onFailureFlag(c)
	r.addConnectFlags(c)
	_ = c.MarkFlagFilename("file", "jsonl", "json")
	c.RunE = func(c *cobra.Command, args []string) error {
		policy, err := once.ParseFailurePolicy(*onFailure)
		if err != nil {
			return fmt.Errorf("--on-failure: %w", err)
		}
		return r.batch(c, args[0], *file, *batchKey, *parallel, policy)
	}
	return c
}

func (r *runner) batch(c *cobra.Command, task, file, batchKey string, parallel int, onFailure once.FailurePolicy) error {
	items, err := r.batchInput(file, batchKey, parallel)
	if err != nil {
		return err
	}
	for i := range items {
		items[i].item.Options.OnFailure = onFailure
	}
	return r.withClient(c, func(s *starter.Client) error {
		results, err := r.triggerBatch(c, s, task, items, parallel)
		if err != nil {
			return err
		}
		outs, code := batchOutputs(items, results)
		if err := printList(r, outs, printBatchOutput); err != nil {
			return err
		}
		if code != 0 {
			return &exitError{code}
		}
		return nil
	})
}

// batchInput checks the flags and reads the items of --file, each with its
// key resolved (hash(batch key, index) for an item without one).
func (r *runner) batchInput(file, batchKey string, parallel int) ([]batchItem, error) {
	if file == "" {
		return nil, usagef("batch: --file is required")
	}
	if parallel < 1 {
		return nil, usagef("--parallel %d: want at least 1", parallel)
	}
	var bkey idempotency.Key
	if batchKey != "" {
		var err error
		if bkey, err = idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, batchKey); err != nil {
			return nil, fmt.Errorf("--batch-key: %w", err)
		}
	}
	if err := r.checkEnv(); err != nil {
		return nil, err
	}
	var in io.Reader = r.stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, usagef("--file: %v", err)
		}
		defer f.Close()
		in = f
	}
	items, err := readBatch(in, bkey)
	if err == nil && bkey == "" {
		r.noteUnkeyed(items)
	}
	return items, err
}

// noteUnkeyed says on stderr, in one line, how many lines start a new run
// on every invocation: those without "key" in a batch without --batch-key.
func (r *runner) noteUnkeyed(items []batchItem) {
	n := 0
	for _, it := range items {
		if it.err == nil && it.item.Options.Key == nil {
			n++
		}
	}
	if n > 0 {
		fmt.Fprintf(r.stderr, "starter: note: %d of %d lines have no \"key\" and there is no --batch-key: each starts a new run every time this batch runs\n", n, len(items))
	}
}

// triggerBatch triggers the valid items, in chunks so that progress can be
// shown (keys were resolved per line beforehand, so chunking does not change
// them), and returns their results by index into items.
func (r *runner) triggerBatch(c *cobra.Command, s *starter.Client, task string, items []batchItem, parallel int) (map[int]starter.BatchResult, error) {
	var valid []int // indexes into items of the lines to trigger
	for i, it := range items {
		if it.err == nil {
			valid = append(valid, i)
		}
	}
	progress := r.newProgress(len(valid))
	results := make(map[int]starter.BatchResult, len(valid))
	chunk := 4 * parallel
	for start := 0; start < len(valid); start += chunk {
		end := min(start+chunk, len(valid))
		batch := make([]starter.BatchItem, 0, end-start)
		for _, i := range valid[start:end] {
			batch = append(batch, items[i].item)
		}
		res, err := s.BatchTrigger(c.Context(), task, batch, starter.BatchOptions{Parallelism: parallel})
		if err != nil {
			progress.stop()
			return nil, err
		}
		for j, i := range valid[start:end] {
			results[i] = res[j]
		}
		progress.add(res)
	}
	progress.done()
	return results, nil
}

// batchOutputs is one output per input line, and the exit code: 2 when a
// line was invalid input, else 1 when a line failed, else 0.
func batchOutputs(items []batchItem, results map[int]starter.BatchResult) ([]batchOutput, int) {
	code := 0
	outs := make([]batchOutput, 0, len(items))
	for i, it := range items {
		out := batchOutput{Line: it.line}
		err := it.err
		if err == nil {
			res := results[i]
			if res.Run != nil && res.Run.RunID != "" {
				cached := res.Run.Cached
				out.WorkflowID, out.RunID, out.Cached = res.Run.WorkflowID, res.Run.RunID, &cached
			}
			err = res.Err
		}
		if err != nil {
			out.Error = oneLine(err.Error())
			out.WorkflowID, out.RunID, out.Cached = "", "", nil
			switch c := exitCode(err); {
			case c == 2:
				code = 2
			case code == 0:
				code = 1
			}
		}
		outs = append(outs, out)
	}
	return outs, code
}

// printBatchOutput is the text form of one output line.
func printBatchOutput(w io.Writer, out batchOutput) {
	switch {
	case out.Error != "":
		fmt.Fprintf(w, "line %d: error: %s\n", out.Line, out.Error)
	case *out.Cached:
		fmt.Fprintf(w, "line %d: cached   workflow %s  run %s\n", out.Line, out.WorkflowID, out.RunID)
	default:
		fmt.Fprintf(w, "line %d: started  workflow %s  run %s\n", out.Line, out.WorkflowID, out.RunID)
	}
}

// readBatch parses JSONL lines; blank lines are skipped. An item without a
// key gets hash(batch key, index) when there is a batch key, index being the
// 0-based position among the non-blank lines.
func readBatch(in io.Reader, batchKey idempotency.Key) ([]batchItem, error) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	var items []batchItem
	for n := 1; sc.Scan(); n++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		item, err := parseBatchLine(text)
		if err == nil && item.Options.Key == nil && batchKey != "" {
			item.Options.Key, err = idempotency.BatchItemKey(batchKey, len(items))
		}
		if err != nil {
			err = fmt.Errorf("line %d: %w", n, err)
		}
		items = append(items, batchItem{line: n, item: item, err: err})
	}
	if err := sc.Err(); err != nil {
		return nil, usagef("--file: %v", err)
	}
	return items, nil
}

func parseBatchLine(text []byte) (starter.BatchItem, error) {
	var l batchLine
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return starter.BatchItem{}, usagef(`not a JSON object {"payload": …, "key": …}: %v`, err)
	}
	if dec.More() {
		return starter.BatchItem{}, usagef("more than one JSON value on the line")
	}
	var item starter.BatchItem
	if len(l.Payload) > 0 && !bytes.Equal(l.Payload, []byte("null")) {
		item.Payload = l.Payload
	}
	if len(l.Key) > 0 && !bytes.Equal(l.Key, []byte("null")) {
		var parts []string
		var one string
		if err := json.Unmarshal(l.Key, &one); err == nil {
			parts = []string{one}
		} else if err := json.Unmarshal(l.Key, &parts); err != nil {
			return item, usagef(`"key" must be a string or an array of strings`)
		}
		k, err := keyParts(parts)
		if err != nil {
			return item, fmt.Errorf("key: %w", err)
		}
		item.Options.Key = k
	}
	return item, nil
}
