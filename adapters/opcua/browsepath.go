package opcua

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
)

// DefaultBrowseStart is the start node of a browse path without an explicit one: the
// Objects folder.
const DefaultBrowseStart = "i=85"

// nsOPCUA is the URI of namespace 0.
const nsOPCUA = "http://opcfoundation.org/UA/"

// pathElement is one element of a browse path. Its namespace is a URI (nsu != "") or an
// index; inherit marks an element that named neither.
type pathElement struct {
	name    string
	nsu     string
	ns      uint16
	inherit bool
}

// ValidateBrowsePath checks the syntax of a browse path (see the package documentation)
// without a connection. The error names the path and the offending element (1-based).
func ValidateBrowsePath(s string) error {
	_, err := parseBrowsePath(s)
	return err
}

func parseBrowsePath(s string) ([]pathElement, error) {
	if s == "" {
		return nil, fmt.Errorf("invalid browse path %q: empty", s)
	}
	bad := func(n int, format string, a ...any) ([]pathElement, error) {
		return nil, fmt.Errorf("invalid browse path %q: element %d: %s", s, n, fmt.Sprintf(format, a...))
	}
	var out []pathElement
	rest := s
	for n := 1; ; n++ {
		e := pathElement{inherit: true}
		if strings.HasPrefix(rest, "nsu=") {
			i := strings.IndexByte(rest, ';')
			if i < 0 {
				return bad(n, `missing ";" after the namespace uri`)
			}
			if i == len("nsu=") {
				return bad(n, "empty namespace uri")
			}
			e.nsu, e.inherit = unescapeNSU(rest[len("nsu="):i]), false
			rest = rest[i+1:]
		} else if d := leadingDigits(rest); d > 0 && d < len(rest) && rest[d] == ':' {
			v, err := strconv.ParseUint(rest[:d], 10, 16)
			if err != nil {
				return bad(n, "namespace index %q is not 0..65535", rest[:d])
			}
			e.ns, e.inherit = uint16(v), false
			rest = rest[d+1:]
		}
		var b strings.Builder
		j := 0
		for ; j < len(rest) && rest[j] != '/'; j++ {
			if rest[j] == '&' {
				if j+1 == len(rest) {
					return bad(n, `"&" at the end escapes nothing`)
				}
				j++
			}
			b.WriteByte(rest[j])
		}
		if b.Len() == 0 {
			return bad(n, "empty name")
		}
		e.name = b.String()
		out = append(out, e)
		if j == len(rest) {
			return out, nil
		}
		rest = rest[j+1:]
	}
}

func leadingDigits(s string) int {
	i := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i
}

// bindPath fills in inherited namespaces from start and drops a leading "Objects" when
// start is the default.
func bindPath(elems []pathElement, start nodeID, defaultStart bool) []pathElement {
	out := make([]pathElement, 0, len(elems))
	prev := pathElement{nsu: start.nsu, ns: start.ns}
	for _, e := range elems {
		if e.inherit {
			e.nsu, e.ns, e.inherit = prev.nsu, prev.ns, false
		}
		prev = e
		out = append(out, e)
	}
	if defaultStart && len(out) > 0 && out[0].name == "Objects" &&
		(out[0].nsu == "" && out[0].ns == 0 || out[0].nsu == nsOPCUA) {
		out = out[1:]
	}
	return out
}

// escapeNSU escapes a namespace URI for "nsu=URI;" in a node id or a browse path:
// "%" becomes "%25" and ";" "%3B" (the percent-encoding OPC 10000-6 §5.3.1.11 uses for
// these), so that a URI containing ";" cannot end the prefix early and name another
// namespace and identifier. unescapeNSU reverses it.
func escapeNSU(u string) string {
	if !strings.ContainsAny(u, "%;") {
		return u
	}
	return strings.NewReplacer("%", "%25", ";", "%3B").Replace(u)
}

// unescapeNSU decodes "%3B" (or "%3b") and "%25" in a namespace URI; other "%"
// sequences stay as written.
func unescapeNSU(u string) string {
	if !strings.Contains(u, "%") {
		return u
	}
	return strings.NewReplacer("%3B", ";", "%3b", ";", "%25", "%").Replace(u)
}

// escapeName escapes a browse name for a browse path element.
func escapeName(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '/' || c == '&':
			b.WriteByte('&')
		case c == ':' && leadingDigits(name) == i && i > 0:
			b.WriteByte('&') // "2:x" as a name, not an index
		case i == 0 && strings.HasPrefix(name, "nsu="):
			b.WriteByte('&')
		}
		b.WriteByte(c)
	}
	return b.String()
}

// formatPath writes elements (each with its namespace URI; "" for namespace 0) as a
// browse path that names a namespace only where it changes, starting from the
// namespace startNS of the start node. Namespace 0 is written as "0:".
func formatPath(startNS string, names, uris []string) string {
	var b strings.Builder
	prev := startNS
	for i, name := range names {
		if i > 0 {
			b.WriteByte('/')
		}
		u := uris[i]
		if u == nsOPCUA {
			u = ""
		}
		if u != prev {
			if u == "" {
				b.WriteString("0:")
			} else {
				b.WriteString("nsu=" + escapeNSU(u) + ";")
			}
		}
		prev = u
		b.WriteString(escapeName(name))
	}
	return b.String()
}

// hierarchical is the reference type every browse path step and browse follows.
var hierarchical = ua.NewNumericNodeID(0, id.HierarchicalReferences)
