package starterapp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
)

// batchLine is one input line of batch.
type batchLine struct {
	Payload json.RawMessage `json:"payload"`
	Key     json.RawMessage `json:"key"` // a string or an array of strings
}

// batchOutput is one output line of batch.
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

func (r *runner) batch(ctx context.Context, args []string) error {
	fs := r.newFlagSet("batch", "batch <task> --file items.jsonl [--batch-key K] [--parallel N] [--json]")
	common := r.addCommon(fs)
	file := fs.String("file", "", `JSONL input, one {"payload": …, "key": "k" | ["k1", "k2"]} per line ("-" for stdin)`)
	batchKey := fs.String("batch-key", "", `key of the batch: an item without "key" gets hash(batch key, index), so repeating the batch returns the same runs`)
	parallel := fs.Int("parallel", starter.DefaultBatchParallelism, "starts in flight at most")
	asJSON := fs.Bool("json", false, "print one JSON object per input line")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	task, err := taskArg("batch", pos)
	if err != nil {
		return err
	}
	if *file == "" {
		return usagef("batch: --file is required")
	}
	if *parallel < 1 {
		return usagef("--parallel %d: want at least 1", *parallel)
	}
	var bkey idempotency.Key
	if *batchKey != "" {
		if bkey, err = idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, *batchKey); err != nil {
			return fmt.Errorf("--batch-key: %w", err)
		}
	}
	if err := idempotency.ValidateEnvironment(common.env); err != nil {
		return fmt.Errorf("--env %q: %w", common.env, err)
	}
	var in io.Reader = r.stdin
	if *file != "-" {
		f, err := os.Open(*file)
		if err != nil {
			return usagef("--file: %v", err)
		}
		defer f.Close()
		in = f
	}
	items, err := readBatch(in, bkey)
	if err != nil {
		return err
	}

	s, closeClient, err := r.connect(ctx, common)
	if err != nil {
		return err
	}
	defer closeClient()

	progress := r.m.IsTerminal(r.stderr)
	var valid []int // indexes into items of the lines to trigger
	for i, it := range items {
		if it.err == nil {
			valid = append(valid, i)
		}
	}
	results := make(map[int]starter.BatchResult, len(valid))
	// Trigger in chunks so that progress can be shown; keys were resolved
	// per line beforehand, so chunking does not change them.
	chunk := 4 * *parallel
	for start := 0; start < len(valid); start += chunk {
		end := min(start+chunk, len(valid))
		batch := make([]starter.BatchItem, 0, end-start)
		for _, i := range valid[start:end] {
			batch = append(batch, items[i].item)
		}
		res, err := s.BatchTrigger(ctx, task, batch, starter.BatchOptions{Parallelism: *parallel})
		if err != nil {
			return err
		}
		for j, i := range valid[start:end] {
			results[i] = res[j]
		}
		if progress {
			fmt.Fprintf(r.stderr, "\rtriggered %d/%d", end, len(valid))
		}
	}
	if progress && len(valid) > 0 {
		fmt.Fprintln(r.stderr)
	}

	code := 0
	enc := json.NewEncoder(r.stdout)
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
		if *asJSON {
			if err := enc.Encode(out); err != nil {
				return err
			}
			continue
		}
		switch {
		case out.Error != "":
			fmt.Fprintf(r.stdout, "line %d: error: %s\n", out.Line, out.Error)
		case *out.Cached:
			fmt.Fprintf(r.stdout, "line %d: cached   workflow %s  run %s\n", out.Line, out.WorkflowID, out.RunID)
		default:
			fmt.Fprintf(r.stdout, "line %d: started  workflow %s  run %s\n", out.Line, out.WorkflowID, out.RunID)
		}
	}
	if code != 0 {
		return &exitError{code}
	}
	return nil
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
			item.Options.Key, err = idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, string(batchKey), strconv.Itoa(len(items)))
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
