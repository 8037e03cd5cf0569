// Package yamlsyntax parses a YAML file into a node tree and, when that fails, says
// where and why in words an engineer can act on. It is the one place the gateway's and
// the aggregator's loaders turn a YAML syntax error into a message:
//
//   - a file that is not text (a gzip archive, an executable, any file with control
//     characters) is named as such, with no line;
//   - a file that is not UTF-8 gets the line of the first invalid byte;
//   - otherwise the error carries the line of the fault itself. yaml.v3 reports the
//     line where the enclosing block started (its parser keeps a "context mark" and
//     prints that rather than the problem's own position), often several lines early;
//     the fault is the first line at which the document, cut after that line, fails
//     with the same error, found by a search over the prefixes;
//   - a tab in the indentation of that line, and a line indented unlike the one above
//     it, get a hint.
//
// The search parses about 2·log2(distance) prefixes of the document, within a budget of
// searchBudget bytes, and only when the document is already known to be broken.
package yamlsyntax

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Error is a syntax error at a line of the file (0 when the fault has no line).
type Error struct {
	Line int
	Msg  string
}

// Error formats the error as "line N: msg", or msg alone without a line.
func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

// Parse parses data into a node tree; a failure is an *Error.
func Parse(data []byte) (*yaml.Node, error) {
	if e := checkText(data); e != nil {
		return nil, e
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, diagnose(data, err)
	}
	return &root, nil
}

// Check reports the syntax error of data, as Parse does, or else its duplicate keys
// (Duplicates; several joined by newlines, each "line N: PATH: key ..."), or nil; for
// loaders that decode with yaml.v3's Decoder and want these errors worded like every
// other.
func Check(data []byte) error {
	root, err := Parse(data)
	if err != nil {
		return err
	}
	dups := Duplicates(root)
	if len(dups) == 0 {
		return nil
	}
	errs := make([]error, len(dups))
	for i, d := range dups {
		errs[i] = d
	}
	return errors.Join(errs...)
}

// magic names the binary formats most likely to be given as a configuration by mistake.
var magic = []struct {
	prefix, name string
}{
	{"\x1f\x8b", "gzip-compressed data"},
	{"\x7fELF", "an ELF executable"},
	{"PK\x03\x04", "a zip archive"},
	{"\xfd7zXZ\x00", "xz-compressed data"},
	{"\x28\xb5\x2f\xfd", "zstd-compressed data"},
	{"BZh", "bzip2-compressed data"},
	{"\x89PNG", "a PNG image"},
	{"%PDF-", "a PDF document"},
	{"SQLite format 3\x00", "an SQLite database"},
}

// checkText refuses data that is not UTF-8 text. A byte-order mark for UTF-16 or
// UTF-32 hands the decoding to yaml.v3.
func checkText(data []byte) *Error {
	for _, m := range magic {
		if bytes.HasPrefix(data, []byte(m.prefix)) && (m.name != "bzip2-compressed data" || bzip2(data)) {
			return &Error{Msg: "not a YAML text file: " + m.name}
		}
	}
	if bytes.HasPrefix(data, []byte{0xfe, 0xff}) || bytes.HasPrefix(data, []byte{0xff, 0xfe}) ||
		bytes.HasPrefix(data, []byte{0, 0, 0xfe, 0xff}) {
		return nil
	}
	for i, c := range data {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
			return &Error{Msg: fmt.Sprintf("not a YAML text file: binary data (byte 0x%02x at offset %d)", c, i)}
		}
	}
	if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			r, n := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return &Error{Line: 1 + bytes.Count(data[:off], []byte{'\n'}),
			Msg: fmt.Sprintf("not UTF-8: byte 0x%02x; save the file as UTF-8", data[off])}
	}
	return nil
}

func bzip2(data []byte) bool {
	return len(data) >= 10 && data[3] >= '1' && data[3] <= '9' && string(data[4:10]) == "1AY&SY"
}

var lineRE = regexp.MustCompile(`^(?:yaml: )?(?:line (\d+): )?(.*)$`)

// split returns yaml.v3's line (0 when none) and message.
func split(err error) (int, string) {
	m := lineRE.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, err.Error()
	}
	n, _ := strconv.Atoi(m[1])
	return n, m[2]
}

// Indentation errors: yaml.v3's words when a line is indented unlike its siblings.
var indentMsgs = map[string]bool{
	"did not find expected '-' indicator":                    true,
	"did not find expected key":                              true,
	"mapping values are not allowed in this context":         true,
	"block sequence entries are not allowed in this context": true,
	"could not find expected ':'":                            true,
	"did not find expected <document start>":                 true,
}

// diagnose turns yaml.v3's error on data into an Error at the faulty line.
func diagnose(data []byte, err error) *Error {
	reported, msg := split(err)
	ends := lineEnds(data)
	// yaml.v3 prints a 0-based context line for parser errors and a 1-based one for
	// scanner errors: the fault is at or after the reported line less one.
	lo := max(1, reported-1)
	if lo > len(ends) {
		return &Error{Line: reported, Msg: msg}
	}
	spent := 0
	fails := func(k int) bool {
		if k >= len(ends) {
			return true
		}
		spent += ends[k-1]
		var n yaml.Node
		e := yaml.Unmarshal(data[:ends[k-1]], &n)
		if e == nil {
			return false
		}
		_, m := split(e)
		return m == msg
	}
	// Gallop from lo, then bisect: the first line whose prefix fails like the whole.
	// Past the budget, the best line known so far stands (yaml.v3's, or the first
	// failing prefix found).
	line, hi, step, found := max(1, reported), lo, 1, false
	for spent < searchBudget {
		if found = fails(hi); found {
			break
		}
		lo = hi + 1
		hi = min(hi+step, len(ends))
		step *= 2
	}
	if found {
		for spent < searchBudget && lo < hi { // hi fails, lines before lo do not
			mid := lo + (hi-lo)/2
			if fails(mid) {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		line = hi
	}
	text := lineText(data, ends, line)
	indent := text[:len(text)-len(strings.TrimLeft(text, " \t"))]
	switch {
	case strings.Contains(indent, "\t"):
		return &Error{Line: line, Msg: "a tab character indents this line; YAML indents with spaces only"}
	case strings.Contains(msg, "tab character"):
		for l := line; l <= len(ends); l++ {
			t := lineText(data, ends, l)
			if strings.Contains(t[:len(t)-len(strings.TrimLeft(t, " \t"))], "\t") {
				return &Error{Line: l, Msg: "a tab character indents this line; YAML indents with spaces only"}
			}
		}
	case indentMsgs[msg]:
		if p, col := keyAbove(data, ends, line); p > 0 && col != len(indent) {
			return &Error{Line: line, Msg: fmt.Sprintf("%s: this line is indented %d spaces, line %d %d; the keys of one mapping start in the same column",
				msg, len(indent), p, col)}
		}
		return &Error{Line: line, Msg: msg + "; check the indentation of this line and the one above"}
	}
	return &Error{Line: line, Msg: msg}
}

// searchBudget bounds the bytes the search for the faulty line parses again: at least
// 16 prefixes of a 1 MiB file, one of a file at the gateway's 16 MiB limit.
const searchBudget = 16 << 20

// lineEnds returns the offset after each line (its newline included).
func lineEnds(data []byte) []int {
	var ends []int
	for i, c := range data {
		if c == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		ends = append(ends, len(data))
	}
	return ends
}

// lineText is line l (1-based) without its line break.
func lineText(data []byte, ends []int, l int) string {
	start := 0
	if l > 1 {
		start = ends[l-2]
	}
	return strings.TrimRight(string(data[start:ends[l-1]]), "\r\n")
}

// keyAbove finds the closest line above l holding content (not blank, not a comment)
// and the column where its key starts, after any "- " sequence indicators.
func keyAbove(data []byte, ends []int, l int) (int, int) {
	for p := l - 1; p >= 1; p-- {
		t := lineText(data, ends, p)
		rest := strings.TrimLeft(t, " ")
		if rest == "" || rest[0] == '#' {
			continue
		}
		for strings.HasPrefix(rest, "- ") || rest == "-" {
			rest = strings.TrimLeft(rest[1:], " ")
		}
		return p, len(t) - len(rest)
	}
	return 0, 0
}
