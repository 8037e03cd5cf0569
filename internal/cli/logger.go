// Package cli holds what the commands share: logger set-up from -log-level and
// -log-format flags.
package cli

import (
	"fmt"
	"io"
	"log/slog"
)

// NewLogger returns a text or JSON slog logger writing to w at the given level
// (debug, info, warn, error).
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("invalid -log-level %q", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("invalid -log-format %q: want text or json", format)
}
