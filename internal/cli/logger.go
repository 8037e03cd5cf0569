// Package cli holds what the commands share: logger set-up from -log-level and
// -log-format flags, and the -version text.
package cli

import (
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
)

// Version returns "ganlink <name> <version> [<revision>[-dirty]] <go> <os>/<arch>".
// release is the version set at build time (-ldflags "-X main.version=v1.2.3"); when
// empty, the module version and VCS revision recorded by the Go toolchain are used.
func Version(name, release string) string {
	return "ganlink " + name + " " + ShortVersion(release) + " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
}

// ShortVersion returns "<version>[ <revision>[-dirty]]", the part of Version that
// identifies the build (the version tag of the gateway's health series).
func ShortVersion(release string) string {
	v, rev, dirty := release, "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	out := v
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		out += " " + rev
		if dirty {
			out += "-dirty"
		}
	}
	return out
}

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
