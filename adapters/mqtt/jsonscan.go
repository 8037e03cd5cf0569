package mqtt

import (
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The payload scanner validates a JSON document and, in the same pass, records where
// the values at a fixed set of paths are, without building any value and without
// allocating. Its results agree with decoding the payload with encoding/json into an
// any and walking the paths (map keys exactly, array indices by canonical decimal
// segments), including duplicate keys (the last one wins) and the nesting limit.

// kind is the JSON type of a located value; kindNone means the path was not found.
type kind uint8

const (
	kindNone kind = iota
	kindNumber
	kindString
	kindTrue
	kindFalse
	kindNull
	kindObject
	kindArray
)

var kindNames = [...]string{"none", "number", "string", "true", "false", "null", "object", "array"}

func (k kind) String() string { return kindNames[k] }

// span locates one value in the payload: for strings it includes the quotes.
type span struct {
	kind       kind
	esc        bool // string with escapes or non-ASCII bytes: unquote before use
	start, end int32
}

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

// pathNode is one segment of the path trie; node 0 is the root.
type pathNode struct {
	seg      string
	index    int     // array index the segment denotes, or -1
	slot     int     // result slot of a path ending here, or -1
	children []int32 // child nodes
	subSlots []int   // slots of paths ending in this subtree, including this node
}

// pathTree is the compiled set of paths of one binding; slot i is paths[i].
type pathTree struct {
	nodes []pathNode
	paths []string
}

// newPathTree compiles valid paths (see ValidatePath); duplicates share no slot: each
// path gets its own slot in order, a repeated path reuses the node's first slot.
func newPathTree(paths []string) *pathTree {
	t := &pathTree{nodes: []pathNode{{index: -1, slot: -1}}, paths: paths}
	for slot, p := range paths {
		n := int32(0)
		for _, seg := range strings.Split(p, ".") {
			next := int32(-1)
			for _, c := range t.nodes[n].children {
				if t.nodes[c].seg == seg {
					next = c
					break
				}
			}
			if next < 0 {
				next = int32(len(t.nodes))
				t.nodes = append(t.nodes, pathNode{seg: seg, index: arrayIndex(seg), slot: -1})
				t.nodes[n].children = append(t.nodes[n].children, next)
			}
			n = next
		}
		if t.nodes[n].slot < 0 {
			t.nodes[n].slot = slot
		}
	}
	var collect func(n int32) []int
	collect = func(n int32) []int {
		var s []int
		if t.nodes[n].slot >= 0 {
			s = append(s, t.nodes[n].slot)
		}
		for _, c := range t.nodes[n].children {
			s = append(s, collect(c)...)
		}
		t.nodes[n].subSlots = s
		return s
	}
	collect(0)
	return t
}

// slotOf returns the slot holding path i's result (a repeated path shares one).
func (t *pathTree) slotOf(i int) int {
	n := int32(0)
	for _, seg := range strings.Split(t.paths[i], ".") {
		for _, c := range t.nodes[n].children {
			if t.nodes[c].seg == seg {
				n = c
				break
			}
		}
	}
	return t.nodes[n].slot
}

// arrayIndex returns the array index a canonical decimal segment denotes, or -1.
func arrayIndex(seg string) int {
	if seg == "" || len(seg) > 9 || (seg[0] == '0' && len(seg) > 1) {
		return -1
	}
	n := 0
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// syntaxError describes invalid JSON.
type syntaxError struct {
	msg    string
	offset int
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at offset %d: %s", e.offset, e.msg)
}

// scanner is reusable; it is not safe for concurrent use.
type scanner struct {
	buf     []byte
	pos     int
	depth   int
	nodes   []pathNode
	out     []span
	scratch []byte
	err     *syntaxError
}

// scan validates buf and fills out (len(out) ≥ len(t.paths) slots) with the located
// values. On invalid JSON it returns a *syntaxError and out is meaningless.
func (s *scanner) scan(buf []byte, t *pathTree, out []span) error {
	s.buf, s.pos, s.depth, s.nodes, s.out, s.err = buf, 0, 0, t.nodes, out, nil
	clear(out)
	ok := s.value(0)
	if ok {
		s.skipWS()
		if s.pos < len(s.buf) {
			ok = s.fail("unexpected %s after top-level value", quoteByte(s.buf[s.pos]))
		}
	}
	s.buf, s.nodes, s.out = nil, nil, nil
	if !ok {
		return s.err
	}
	return nil
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f && c != '\'' {
		return "'" + string(rune(c)) + "'"
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func (s *scanner) fail(format string, a ...any) bool {
	if s.err == nil {
		s.err = &syntaxError{msg: fmt.Sprintf(format, a...), offset: s.pos}
	}
	return false
}

func (s *scanner) failEnd() bool { return s.fail("unexpected end of input") }

func (s *scanner) skipWS() {
	for s.pos < len(s.buf) {
		switch s.buf[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// value scans one value; node is the trie node it corresponds to, or -1 if untracked.
func (s *scanner) value(node int32) bool {
	s.skipWS()
	if s.pos >= len(s.buf) {
		return s.failEnd()
	}
	start := s.pos
	var k kind
	esc := false
	switch c := s.buf[s.pos]; {
	case c == '{':
		k = kindObject
		child := node
		if node >= 0 && len(s.nodes[node].children) == 0 {
			child = -1
		}
		if !s.object(child) {
			return false
		}
	case c == '[':
		k = kindArray
		child := node
		if node >= 0 && len(s.nodes[node].children) == 0 {
			child = -1
		}
		if !s.array(child) {
			return false
		}
	case c == '"':
		k = kindString
		var ok bool
		if esc, ok = s.str(); !ok {
			return false
		}
	case c == 't':
		k = kindTrue
		if !s.literal("true") {
			return false
		}
	case c == 'f':
		k = kindFalse
		if !s.literal("false") {
			return false
		}
	case c == 'n':
		k = kindNull
		if !s.literal("null") {
			return false
		}
	case c == '-' || (c >= '0' && c <= '9'):
		k = kindNumber
		if !s.number() {
			return false
		}
	default:
		return s.fail("unexpected %s looking for beginning of value", quoteByte(c))
	}
	if node >= 0 {
		if slot := s.nodes[node].slot; slot >= 0 {
			s.out[slot] = span{kind: k, esc: esc, start: int32(start), end: int32(s.pos)}
		}
	}
	return true
}

func (s *scanner) literal(lit string) bool {
	for i := 0; i < len(lit); i++ {
		if s.pos >= len(s.buf) {
			return s.failEnd()
		}
		if s.buf[s.pos] != lit[i] {
			return s.fail("unexpected %s in literal %s", quoteByte(s.buf[s.pos]), lit)
		}
		s.pos++
	}
	return true
}

func (s *scanner) number() bool {
	b, i := s.buf, s.pos
	if b[i] == '-' {
		i++
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else {
		if i = digits(b, i); i < 0 {
			return s.numberFail(-i - 1)
		}
	}
	if i < len(b) && b[i] == '.' {
		if i = digits(b, i+1); i < 0 {
			return s.numberFail(-i - 1)
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i = digits(b, i); i < 0 {
			return s.numberFail(-i - 1)
		}
	}
	s.pos = i
	return true
}

// digits skips one or more decimal digits from i and returns the end; without a digit
// at i it returns -i-1.
func digits(b []byte, i int) int {
	if i >= len(b) || b[i] < '0' || b[i] > '9' {
		return -i - 1
	}
	for i++; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
	}
	return i
}

func (s *scanner) numberFail(i int) bool {
	s.pos = i
	if i >= len(s.buf) {
		return s.failEnd()
	}
	return s.fail("unexpected %s in number", quoteByte(s.buf[i]))
}

// strPlain marks bytes that end the fast path of a string: quote, backslash, control
// characters and non-ASCII bytes.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = true
	}
	t['"'] = false
	t['\\'] = false
	return t
}()

// str scans a string starting at its opening quote. esc reports escapes or non-ASCII
// bytes (the raw bytes may then differ from the decoded text).
func (s *scanner) str() (esc bool, ok bool) {
	b := s.buf
	i := s.pos + 1
	for {
		for i < len(b) && strPlain[b[i]] {
			i++
		}
		if i >= len(b) {
			s.pos = i
			return esc, s.failEnd()
		}
		c := b[i]
		switch {
		case c == '"':
			s.pos = i + 1
			return esc, true
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				s.pos = i + 1
				return esc, s.failEnd()
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				i += 2
				for j := 0; j < 4; j++ {
					if i >= len(b) {
						s.pos = i
						return esc, s.failEnd()
					}
					if !isHex(b[i]) {
						s.pos = i
						return esc, s.fail("unexpected %s in \\u escape", quoteByte(b[i]))
					}
					i++
				}
			default:
				s.pos = i + 1
				return esc, s.fail("invalid escape %s in string", quoteByte(b[i+1]))
			}
		case c < 0x20:
			s.pos = i
			return esc, s.fail("unexpected %s in string", quoteByte(c))
		default: // non-ASCII
			esc = true
			i++
		}
	}
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func (s *scanner) enter() bool {
	s.depth++
	if s.depth > maxDepth {
		return s.fail("exceeded max depth %d", maxDepth)
	}
	s.pos++
	return true
}

func (s *scanner) object(node int32) bool {
	if !s.enter() {
		return false
	}
	s.skipWS()
	if s.pos < len(s.buf) && s.buf[s.pos] == '}' {
		s.pos++
		s.depth--
		return true
	}
	for {
		s.skipWS()
		if s.pos >= len(s.buf) {
			return s.failEnd()
		}
		if s.buf[s.pos] != '"' {
			return s.fail("unexpected %s looking for object key", quoteByte(s.buf[s.pos]))
		}
		keyStart := s.pos
		esc, ok := s.str()
		if !ok {
			return false
		}
		child := int32(-1)
		if node >= 0 {
			child = s.matchKey(node, s.buf[keyStart+1:s.pos-1], esc)
		}
		s.skipWS()
		if s.pos >= len(s.buf) {
			return s.failEnd()
		}
		if s.buf[s.pos] != ':' {
			return s.fail("unexpected %s after object key", quoteByte(s.buf[s.pos]))
		}
		s.pos++
		if child >= 0 {
			// A repeated key replaces the earlier value entirely.
			for _, slot := range s.nodes[child].subSlots {
				s.out[slot] = span{}
			}
		}
		if !s.value(child) {
			return false
		}
		s.skipWS()
		if s.pos >= len(s.buf) {
			return s.failEnd()
		}
		switch s.buf[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			s.depth--
			return true
		default:
			return s.fail("unexpected %s after object value", quoteByte(s.buf[s.pos]))
		}
	}
}

// matchKey returns the child of node whose segment equals the decoded key, or -1.
func (s *scanner) matchKey(node int32, raw []byte, esc bool) int32 {
	key := raw
	if esc && (!utf8.Valid(raw) || containsByte(raw, '\\')) {
		s.scratch = appendUnquoted(s.scratch[:0], raw)
		key = s.scratch
	}
	for _, c := range s.nodes[node].children {
		if s.nodes[c].seg == string(key) {
			return c
		}
	}
	return -1
}

func containsByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

func (s *scanner) array(node int32) bool {
	if !s.enter() {
		return false
	}
	s.skipWS()
	if s.pos < len(s.buf) && s.buf[s.pos] == ']' {
		s.pos++
		s.depth--
		return true
	}
	for i := 0; ; i++ {
		child := int32(-1)
		if node >= 0 {
			for _, c := range s.nodes[node].children {
				if s.nodes[c].index == i {
					child = c
					break
				}
			}
		}
		if !s.value(child) {
			return false
		}
		s.skipWS()
		if s.pos >= len(s.buf) {
			return s.failEnd()
		}
		switch s.buf[s.pos] {
		case ',':
			s.pos++
		case ']':
			s.pos++
			s.depth--
			return true
		default:
			return s.fail("unexpected %s after array element", quoteByte(s.buf[s.pos]))
		}
	}
}

// appendUnquoted appends the decoded text of a valid JSON string body (without quotes)
// to dst, as encoding/json decodes it: escapes resolved, invalid UTF-8 and unpaired
// surrogates replaced by U+FFFD.
func appendUnquoted(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\':
			switch raw[i+1] {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r := hex4(raw[i+2:])
				i += 6
				if utf16.IsSurrogate(r) {
					if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
						if d := utf16.DecodeRune(r, hex4(raw[i+2:])); d != utf8.RuneError {
							dst = utf8.AppendRune(dst, d)
							i += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, r)
				continue
			default: // '"', '\\', '/'
				dst = append(dst, raw[i+1])
			}
			i += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, raw[i:i+size]...)
			}
			i += size
		}
	}
	return dst
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		default:
			c = c - 'A' + 10
		}
		r = r<<4 | rune(c)
	}
	return r
}
