package shared

import (
	"fmt"
	"io"
	"log/slog"
)

// LogFormats are the values of --log-format.
var LogFormats = []string{"text", "json"}

// NewLogger returns a structured logger writing to w at level ("debug",
// "info", "warn", "error"; "never" drops everything) in format ("text" or
// "json").
//
// Errors: an unknown level or format, in words that name the valid ones.
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var handlerOpts slog.HandlerOptions
	if level == "never" {
		w = io.Discard
	} else {
		var l slog.Level
		if err := l.UnmarshalText([]byte(level)); err != nil {
			return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
		}
		handlerOpts.Level = l
	}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, &handlerOpts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, &handlerOpts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}
