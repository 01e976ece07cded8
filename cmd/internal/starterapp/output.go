package starterapp

import (
	"encoding/json"
	"io"
)

// printValue writes v in the -o format: text through the text function,
// json as one indented JSON value, jsonl as one compact line, as the
// temporal CLI prints a single result.
func (r *runner) printValue(v any, text func(w io.Writer)) error {
	switch r.output {
	case "json", "jsonl":
		return r.encoder().Encode(v)
	}
	text(r.stdout)
	return nil
}

// printList writes items in the -o format: text through the text function
// per item, json as one indented JSON array, jsonl as one compact JSON line
// per item, as the temporal CLI prints lists.
func printList[T any](r *runner, items []T, text func(w io.Writer, item T)) error {
	switch r.output {
	case "json":
		if items == nil {
			items = []T{}
		}
		return r.encoder().Encode(items)
	case "jsonl":
		enc := r.encoder()
		for _, it := range items {
			if err := enc.Encode(it); err != nil {
				return err
			}
		}
		return nil
	}
	for _, it := range items {
		text(r.stdout, it)
	}
	return nil
}

// encoder is a JSON encoder on stdout for the -o format.
func (r *runner) encoder() *json.Encoder {
	enc := json.NewEncoder(r.stdout)
	enc.SetEscapeHTML(false)
	if r.output == "json" {
		enc.SetIndent("", "  ")
	}
	return enc
}
