package config

import (
	"fmt"
	"strconv"
	"strings"
)

// ValidateBrowsePath checks the syntax of an OPC UA browse path, as the OPC UA source
// reads it (docs/configuration.md): elements separated by "/", each
// [nsu=URI;|INDEX:]name, with "&" escaping the next character of a name. The error
// names the path and the offending element (1-based).
func ValidateBrowsePath(s string) error {
	if s == "" {
		return fmt.Errorf("invalid browse path %q: empty", s)
	}
	bad := func(n int, format string, a ...any) error {
		return fmt.Errorf("invalid browse path %q: element %d: %s", s, n, fmt.Sprintf(format, a...))
	}
	rest := s
	for n := 1; ; n++ {
		if strings.HasPrefix(rest, "nsu=") {
			i := strings.IndexByte(rest, ';')
			if i < 0 {
				return bad(n, `missing ";" after the namespace uri`)
			}
			if i == len("nsu=") {
				return bad(n, "empty namespace uri")
			}
			rest = rest[i+1:]
		} else if d := len(rest) - len(strings.TrimLeft(rest, "0123456789")); d > 0 && d < len(rest) && rest[d] == ':' {
			if _, err := strconv.ParseUint(rest[:d], 10, 16); err != nil {
				return bad(n, "namespace index %q is not 0..65535", rest[:d])
			}
			rest = rest[d+1:]
		}
		name := 0
		j := 0
		for ; j < len(rest) && rest[j] != '/'; j++ {
			if rest[j] == '&' {
				if j+1 == len(rest) {
					return bad(n, `"&" at the end escapes nothing`)
				}
				j++
			}
			name++
		}
		if name == 0 {
			return bad(n, "empty name")
		}
		if j == len(rest) {
			return nil
		}
		rest = rest[j+1:]
	}
}
