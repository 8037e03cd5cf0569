package config

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ganlink/ganlink/internal/fsread"
	"github.com/ganlink/ganlink/internal/yamlsyntax"
)

// Problem is one configuration error at a YAML path.
type Problem struct {
	Path string // e.g. devices[3].signals.state.node
	Line int    // 1-based line in the file, 0 when unknown
	Msg  string
}

// Error formats the problem as "line N: path: msg".
func (p Problem) Error() string {
	switch {
	case p.Line > 0 && p.Path != "":
		return fmt.Sprintf("line %d: %s: %s", p.Line, p.Path, p.Msg)
	case p.Path != "":
		return p.Path + ": " + p.Msg
	case p.Line > 0:
		return fmt.Sprintf("line %d: %s", p.Line, p.Msg)
	default:
		return p.Msg
	}
}

// Errors is every problem found in a configuration, in file order.
type Errors []Problem

// Error joins the problems, one per line.
func (e Errors) Error() string {
	var b strings.Builder
	for i, p := range e {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.Error())
	}
	return b.String()
}

// MaxDepth bounds the nesting of mappings and sequences in a configuration file (the
// deepest the schema goes is 6: devices, a device, signals, a signal, map). Deeper
// documents are refused before anything else looks at them.
const MaxDepth = 32

// LoadFile reads, expands, decodes, defaults and validates the file at path, a regular
// file of at most fsread.MaxConfig bytes. On failure the error is an Errors listing every
// problem found (or a plain read error).
func LoadFile(path string, kinds Kinds) (*Config, error) {
	data, err := fsread.ReadRegular(path, fsread.MaxConfig)
	if err != nil {
		return nil, fmt.Errorf("read config %q: %w", path, fsread.Reason(err))
	}
	return Load(data, os.LookupEnv, kinds)
}

// Load parses a configuration from data. lookupEnv resolves ${VAR} references. kinds
// decode and check the sources of each kind and the keys they add to devices and
// signals; a source list of a kind not among them is an unknown key.
//
// Every step is linear in the size of the document: its nesting, its aliases and
// duplicate keys are checked on the node tree first, keys unknown to the schema are
// reported and removed before decoding, and the maps of signals and of map values decode
// without yaml.v3's pairwise key comparison.
func Load(data []byte, lookupEnv func(string) (string, bool), kinds Kinds) (*Config, error) {
	if len(data) > fsread.MaxConfig {
		return nil, Errors{{Msg: "configuration larger than " + fsread.FormatSize(fsread.MaxConfig)}}
	}
	root, err := yamlsyntax.Parse(data)
	if err != nil {
		var se *yamlsyntax.Error
		errors.As(err, &se)
		return nil, Errors{{Line: se.Line, Msg: se.Msg}}
	}
	if len(root.Content) == 0 {
		return nil, Errors{{Msg: "empty configuration"}}
	}
	doc := root.Content[0]
	// The walks below follow aliases: an alias inside its own anchor, aliases that
	// expand excessively and deep nesting are refused here first.
	if p := checkShape(doc); p != nil {
		return nil, Errors{*p}
	}
	var probs Errors
	idx := newIndex(doc, func(n *yaml.Node, at int32, ix *index) { expandEnv(n, at, ix, lookupEnv, &probs) })
	if len(idx.dups) > 0 {
		return nil, idx.dups
	}

	// Unknown keys do not stop validation: the rest of the file is still checked. The
	// adapters' sections and keys come out of the tree first; the kinds decode them.
	var unknown Errors
	adapters := idx.extractAdapterNodes(doc, kinds, &unknown)
	cfg := Config{index: idx, kinds: kinds}
	idx.decodeStrict(doc, &cfg, "", &unknown, &probs)
	idx.decodeAdapters(adapters, &cfg, &unknown, &probs)
	if len(probs) > 0 {
		probs = append(probs, unknown...)
		sortProblems(probs)
		return nil, probs
	}
	probs = unknown
	var secretProbs Errors
	cfg.readSecretFiles(&secretProbs, &cfg.Warnings)
	for _, p := range secretProbs {
		p.Line = idx.line(p.Path)
		probs = append(probs, p)
	}
	for i := range cfg.Warnings {
		cfg.Warnings[i].Line = idx.line(cfg.Warnings[i].Path)
	}
	sortProblems(cfg.Warnings)
	cfg.ApplyDefaults()
	for _, p := range cfg.validate() {
		p.Line = idx.line(p.Path)
		probs = append(probs, p)
	}
	if len(probs) > 0 {
		sortProblems(probs)
		return nil, probs
	}
	return &cfg, nil
}

// checkKnown reports every mapping key that names no field of t (strict decoding),
// suggesting the nearest key accepted there: a field of t or, for a mapping in extra,
// one of the keys listed for it (the adapter keys of a device or signal, the kinds of
// sources).
func checkKnown(n *yaml.Node, t reflect.Type, path string, extra map[*yaml.Node][]string, probs *Errors) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch {
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		if reflect.PointerTo(t).Implements(unmarshalerType) {
			return
		}
		fields := map[string]reflect.Type{}
		yamlFields(t, fields)
		// Unknown keys are reported and removed, so that the decoder sees at most one
		// key per field (its duplicate check compares every pair of keys).
		kept := n.Content[:0]
		var cands []string // the keys accepted here, for suggestions
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				msg := "unknown key"
				if cands == nil {
					cands = slices.Concat(slices.Collect(maps.Keys(fields)), extra[n])
				}
				if near := nearestKey(k.Value, cands); near != "" {
					msg += fmt.Sprintf("; did you mean %q?", near)
				}
				*probs = append(*probs, Problem{Path: join(k.Value), Line: k.Line, Msg: msg})
				continue
			}
			kept = append(kept, k, n.Content[i+1])
			checkKnown(n.Content[i+1], ft, join(k.Value), extra, probs)
		}
		clear(n.Content[len(kept):])
		n.Content = kept
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Map:
		for i := 0; i+1 < len(n.Content); i += 2 {
			checkKnown(n.Content[i+1], t.Elem(), join(n.Content[i].Value), extra, probs)
		}
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for i, c := range n.Content {
			checkKnown(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), extra, probs)
		}
	}
}

// yamlFields maps the YAML keys of struct t to their types, with the keys of the
// structs embedded with `yaml:",inline"` (e.g. a serial line's keys in a source).
func yamlFields(t reflect.Type, fields map[string]reflect.Type) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" && opts == "inline" && f.Type.Kind() == reflect.Struct {
			yamlFields(f.Type, fields)
		} else if name != "" && name != "-" {
			fields[name] = f.Type
		}
	}
}

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

// nearestKey returns the key of keys closest to key by edit distance (insertions,
// deletions, substitutions and swaps of adjacent characters, ignoring case), if close
// enough to be a typo: at most 1 edit for keys of up to 4 characters, 2 up to 8, 3
// beyond. Ties go to the alphabetically first key.
func nearestKey(key string, keys []string) string {
	limit := 3
	switch n := len(key); {
	case n <= 4:
		limit = 1
	case n <= 8:
		limit = 2
	}
	best, bestD := "", limit+1
	for _, k := range keys {
		d := editDistance(strings.ToLower(key), strings.ToLower(k))
		if d < bestD || d == bestD && k < best {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b (bytes).
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return max(len(a), len(b)) // keys are short; a long one is no typo of one
	}
	var rows [3][65]int // on the stack: one call per candidate key of every unknown key
	prev2, prev, cur := rows[0][:len(b)+1], rows[1][:len(b)+1], rows[2][:len(b)+1]
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

func sortProblems(p Errors) {
	sort.SliceStable(p, func(i, j int) bool {
		if p[i].Line != p[j].Line {
			if p[i].Line == 0 {
				return false
			}
			if p[j].Line == 0 {
				return true
			}
			return p[i].Line < p[j].Line
		}
		return false
	})
}

var lineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

func yamlSyntaxProblem(err error) Problem {
	msg := err.Error()
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return Problem{Line: n, Msg: m[2]}
	}
	return Problem{Msg: strings.TrimPrefix(msg, "yaml: ")}
}

// checkShape refuses, in one pass over the node tree that visits every node once, a
// document nested deeper than MaxDepth, an alias inside its own anchor, and aliases that
// expand the document excessively (yaml.v3's own rule, applied before anything follows
// the aliases).
func checkShape(doc *yaml.Node) *Problem {
	c := shapeCheck{memo: map[*yaml.Node]shapeOf{}, active: map[*yaml.Node]bool{}}
	_, size := c.visit(doc, 0)
	if c.err != nil {
		return c.err
	}
	if aliased := size - c.nodes; aliased > 0 && float64(aliased) > allowedAliasRatio(size)*float64(size) {
		return &Problem{Msg: "document contains excessive aliasing"}
	}
	return nil
}

type shapeOf struct {
	height int   // levels of mappings and sequences, aliases followed
	size   int64 // nodes, aliases expanded (saturating)
}

type shapeCheck struct {
	memo   map[*yaml.Node]shapeOf
	active map[*yaml.Node]bool // on the current path: an alias to one is a cycle
	nodes  int64               // nodes in the document itself
	err    *Problem
}

// maxShapeSize saturates expanded sizes (a billion laughs overflows int64 otherwise).
const maxShapeSize = 1 << 50

// visit returns n's height and expanded size; depth is the number of mappings and
// sequences around n.
func (c *shapeCheck) visit(n *yaml.Node, depth int) (int, int64) {
	if c.err != nil {
		return 0, 0
	}
	switch n.Kind {
	case yaml.AliasNode:
		c.nodes++
		if n.Alias == nil {
			return 0, 1
		}
		if c.active[n.Alias] {
			c.err = &Problem{Line: n.Line, Msg: fmt.Sprintf("anchor '%s' value contains itself", n.Value)}
			return 0, 0
		}
		return c.visit(n.Alias, depth)
	case yaml.MappingNode, yaml.SequenceNode:
	default: // a scalar: counted once even when aliased
		if n.Anchor != "" {
			if _, seen := c.memo[n]; seen {
				return 0, 1
			}
			c.memo[n] = shapeOf{0, 1}
		}
		c.nodes++
		return 0, 1
	}
	if m, ok := c.memo[n]; ok {
		if depth+m.height > MaxDepth {
			c.err = &Problem{Line: n.Line, Msg: fmt.Sprintf("nested more than %d levels deep", MaxDepth)}
		}
		return m.height, m.size
	}
	if depth >= MaxDepth {
		c.err = &Problem{Line: n.Line, Msg: fmt.Sprintf("nested more than %d levels deep", MaxDepth)}
		return 0, 0
	}
	c.nodes++
	c.active[n] = true
	var h int
	size := int64(1)
	for _, ch := range n.Content {
		ch, cs := c.visit(ch, depth+1)
		h = max(h, ch)
		size = min(size+cs, maxShapeSize)
	}
	delete(c.active, n)
	h++
	c.memo[n] = shapeOf{h, size}
	return h, size
}

// allowedAliasRatio is yaml.v3's limit on the share of decoded nodes that come from
// alias expansion: 99 % up to 400 000 nodes, falling to 10 % at 4 000 000.
func allowedAliasRatio(nodes int64) float64 {
	const low, high = 400_000, 4_000_000
	switch {
	case nodes <= low:
		return 0.99
	case nodes >= high:
		return 0.10
	default:
		return 0.99 - 0.89*float64(nodes-low)/float64(high-low)
	}
}

// index maps YAML paths to lines of the original document. It keeps one entry per key
// and sequence element, with its parent and line; a path is built only when a problem
// is reported (storing one per node costs the square of the nesting depth). Aliases are
// not followed: a path below one resolves to the line of the alias.
type index struct {
	ents   []ient
	child  map[childKey]int32
	byLine map[int]int32 // the last entry added on a line
	dups   Errors        // duplicate keys
	// extra lists, for a mapping of the tree, the keys it accepts besides those of
	// the type it decodes into (the keys the kinds take out of it before decoding).
	extra map[*yaml.Node][]string
}

type ient struct {
	parent int32
	key    string // the mapping key, or "" for a sequence element
	elem   int32  // the sequence index, or -1 for a mapping key
	line   int32
}

type childKey struct {
	parent int32
	key    string
	elem   int32
}

// newIndex indexes doc; scalar is called with every scalar value and the entry it
// belongs to.
func newIndex(doc *yaml.Node, scalar func(n *yaml.Node, at int32, ix *index)) *index {
	ix := &index{ents: []ient{{parent: -1, elem: -1}}, child: map[childKey]int32{}, byLine: map[int]int32{},
		extra: map[*yaml.Node][]string{}}
	ix.walk(doc, 0, scalar)
	return ix
}

func (ix *index) add(parent int32, key string, elem int32, line int) (int32, bool) {
	ck := childKey{parent, key, elem}
	if e, ok := ix.child[ck]; ok {
		return e, false
	}
	e := int32(len(ix.ents))
	ix.ents = append(ix.ents, ient{parent: parent, key: key, elem: elem, line: int32(line)})
	ix.child[ck] = e
	ix.byLine[line] = e
	return e, true
}

func (ix *index) walk(n *yaml.Node, at int32, scalar func(n *yaml.Node, at int32, ix *index)) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			e, fresh := ix.add(at, k.Value, -1, k.Line)
			if !fresh {
				ix.dups = append(ix.dups, Problem{Path: ix.path(e), Line: k.Line,
					Msg: fmt.Sprintf("key %q already defined at line %d", k.Value, ix.ents[e].line)})
				continue
			}
			ix.walk(v, e, scalar)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			e, _ := ix.add(at, "", int32(i), c.Line)
			ix.walk(c, e, scalar)
		}
	case yaml.ScalarNode:
		if scalar != nil {
			scalar(n, at, ix)
		}
	}
}

// path builds the YAML path of entry e: devices[3].signals.state.
func (ix *index) path(e int32) string {
	var segs []int32
	for ; e > 0; e = ix.ents[e].parent {
		segs = append(segs, e)
	}
	var b strings.Builder
	for i := len(segs) - 1; i >= 0; i-- {
		en := ix.ents[segs[i]]
		if en.elem >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(int(en.elem)))
			b.WriteByte(']')
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(en.key)
	}
	return b.String()
}

// line returns the line of path, or of its closest ancestor present in the file. A key
// containing '.' or '[' is matched too: the shortest key present wins.
func (ix *index) line(path string) int {
	at, line := int32(0), 0
	for rest := path; rest != ""; {
		if rest[0] == '[' {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return line
			}
			i, err := strconv.Atoi(rest[1:end])
			if err != nil {
				return line
			}
			e, ok := ix.child[childKey{at, "", int32(i)}]
			if !ok {
				return line
			}
			at, line, rest = e, int(ix.ents[e].line), rest[end+1:]
			rest = strings.TrimPrefix(rest, ".")
			continue
		}
		found := false
		for j := 0; j <= len(rest); j++ {
			if j < len(rest) && rest[j] != '.' && rest[j] != '[' {
				continue
			}
			if e, ok := ix.child[childKey{at, rest[:j], -1}]; ok {
				at, line, rest = e, int(ix.ents[e].line), rest[j:]
				if rest != "" && rest[0] == '.' {
					rest = rest[1:]
				}
				found = true
				break
			}
		}
		if !found {
			return line
		}
	}
	return line
}

var (
	cannotUnmarshRE = regexp.MustCompile(`^line (\d+): cannot unmarshal !!(\w+) ` + "`" + `(.*)` + "`" + ` into (\S+)$`)
)

// typeProblem turns a yaml.v3 decode message into a Problem with the key's path.
func (ix *index) typeProblem(msg string) Problem {
	if m := cannotUnmarshRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		path := ""
		if e, ok := ix.byLine[line]; ok {
			path = ix.path(e)
		}
		want := m[4]
		switch {
		case strings.Contains(want, "int"):
			want = "an integer"
		case strings.Contains(want, "float"):
			want = "a number"
		case want == "bool":
			want = "true or false"
		case want == "string":
			want = "a string"
		case strings.HasPrefix(want, "[]"):
			want = "a list"
		case strings.HasPrefix(want, "map"), strings.Contains(want, "."):
			want = "a mapping"
		}
		return Problem{Path: path, Line: line, Msg: fmt.Sprintf("invalid value %q: want %s", m[3], want)}
	}
	return yamlSyntaxProblem(errors.New(msg))
}

var envRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces ${VAR} in a scalar value (at is its index entry); an unset variable
// is a problem.
func expandEnv(n *yaml.Node, at int32, ix *index, lookup func(string) (string, bool), probs *Errors) {
	if !strings.Contains(n.Value, "${") {
		return
	}
	n.Value = envRE.ReplaceAllStringFunc(n.Value, func(m string) string {
		name := m[2 : len(m)-1]
		v, ok := lookup(name)
		if !ok {
			*probs = append(*probs, Problem{Path: ix.path(at), Line: n.Line,
				Msg: fmt.Sprintf("environment variable %q is not set", name)})
		}
		return v
	})
	if n.Tag == "!!str" || n.Style != 0 {
		return
	}
	n.Tag = "" // let the decoder resolve the expanded text's type
}

// readSecretFiles fills secrets from their *_file keys; a file that group or others
// can read is a warning, once per file.
func (c *Config) readSecretFiles(probs, warnings *Errors) {
	warned := map[string]bool{}
	read := func(path, file string, dst *Secret) {
		if file == "" {
			return
		}
		if *dst != "" {
			*probs = append(*probs, Problem{Path: path, Msg: "set either the value or the _file key, not both"})
			return
		}
		b, err := readFileLimit(file, maxSecretBytes)
		if err != nil {
			*probs = append(*probs, Problem{Path: path + "_file", Msg: fmt.Sprintf("read secret file %q: %v", file, err)})
			return
		}
		*dst = Secret(strings.TrimRight(string(b), "\r\n"))
		if *dst == "" {
			*probs = append(*probs, Problem{Path: path + "_file", Msg: fmt.Sprintf("secret file %q is empty", file)})
		}
		if w := secretFileMode(file); w != "" && !warned[file] {
			warned[file] = true
			*warnings = append(*warnings, Problem{Path: path + "_file", Msg: w})
		}
	}
	if a := c.Admin.BasicAuth; a != nil {
		read("admin.basic_auth.password", a.PasswordFile, &a.Password)
	}
	read("admin.token", c.Admin.TokenFile, &c.Admin.Token)
	for i := range c.Admin.Users {
		u := &c.Admin.Users[i]
		read(fmt.Sprintf("admin.users[%d].password", i), u.PasswordFile, &u.Password)
	}
	for _, s := range c.Sources.List {
		for _, r := range s.Spec.Secrets() {
			if r.Value == nil { // a key file the adapter reads itself: only its mode is checked here
				if w := secretFileMode(r.File); r.File != "" && w != "" && !warned[r.File] {
					warned[r.File] = true
					*warnings = append(*warnings, Problem{Path: s.Path + "." + r.Key, Msg: w})
				}
				continue
			}
			read(s.Path+"."+r.Key, r.File, r.Value)
		}
	}
	for i := range c.Sinks.Influx {
		s := &c.Sinks.Influx[i]
		read(fmt.Sprintf("sinks.influx[%d].token", i), s.TokenFile, &s.Token)
	}
}

// secretFileMode says what is wrong with the permissions of the secret file at path,
// or "" when only its owner can read it (or the system has no such permissions).
func secretFileMode(path string) string {
	if runtime.GOOS == "windows" {
		return ""
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o044 == 0 {
		return ""
	}
	return fmt.Sprintf("secret file %q is readable by group or others (mode %04o): run chmod 600 %s",
		path, fi.Mode().Perm(), shellQuote(path))
}

// shellQuote quotes s for a POSIX shell when it holds anything but plain path
// characters.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+,:@%=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Limits of the files the configuration names (internal/fsread lists every kind).
const (
	maxSecretBytes = fsread.MaxSecret
)

// readFileLimit reads a regular file of at most limit bytes: a FIFO or a device such as
// /dev/zero named by mistake fails at once instead of blocking or filling memory. Errors
// leave out the path, which the caller names.
func readFileLimit(path string, limit int64) ([]byte, error) {
	b, err := fsread.ReadRegular(path, limit)
	return b, fsread.Reason(err)
}

// UnmarshalYAML decodes the signals of a device.
func (m *SignalMap) UnmarshalYAML(n *yaml.Node) error { return decodeMap(n, (*map[string]Signal)(m)) }

// UnmarshalYAML decodes a signal's map.
func (m *ValueMap) UnmarshalYAML(n *yaml.Node) error { return decodeMap(n, (*map[string]float64)(m)) }

// decodeMap decodes a mapping into *dst like yaml.v3 does, with the same messages, but
// with a linear check for duplicate keys instead of yaml.v3's pairwise one: the keys
// and the values each decode as one sequence.
func decodeMap[V any](n *yaml.Node, dst *map[string]V) error {
	if n.Kind != yaml.MappingNode {
		var m map[string]V
		err := n.Decode(&m)
		*dst = m
		return err
	}
	half := len(n.Content) / 2
	keyNodes, valNodes := make([]*yaml.Node, 0, half), make([]*yaml.Node, 0, half)
	var terrs []string
	first := make(map[string]int, half)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if l, dup := first[k.Value]; dup && k.Kind == yaml.ScalarNode {
			terrs = append(terrs, fmt.Sprintf("line %d: mapping key %q already defined at line %d", k.Line, k.Value, l))
			continue
		}
		first[k.Value] = k.Line
		keyNodes = append(keyNodes, k)
		valNodes = append(valNodes, n.Content[i+1])
	}
	keys, keyOK, err := decodeAll[string](keyNodes, &terrs)
	if err != nil {
		return err
	}
	vals, valOK, err := decodeAll[V](valNodes, &terrs)
	if err != nil {
		return err
	}
	m := make(map[string]V, len(keys))
	for i, k := range keys {
		if keyOK[i] && valOK[i] {
			m[k] = vals[i]
		}
	}
	*dst = m
	if len(terrs) > 0 {
		return &yaml.TypeError{Errors: terrs}
	}
	return nil
}

// decodeAll decodes nodes as one sequence; when some fail (yaml.v3 then leaves them out)
// it decodes them one by one to know which. Type errors go to terrs.
func decodeAll[T any](nodes []*yaml.Node, terrs *[]string) ([]T, []bool, error) {
	ok := make([]bool, len(nodes))
	var out []T
	seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: nodes}
	err := seq.Decode(&out)
	var te *yaml.TypeError
	if err != nil && !errors.As(err, &te) {
		return nil, nil, err
	}
	if err == nil && len(out) == len(nodes) {
		for i := range ok {
			ok[i] = true
		}
		return out, ok, nil
	}
	out = make([]T, len(nodes))
	for i, n := range nodes {
		err := n.Decode(&out[i])
		switch {
		case err == nil:
			ok[i] = true
		case errors.As(err, &te):
			*terrs = append(*terrs, te.Errors...)
		default:
			return nil, nil, err
		}
	}
	return out, ok, nil
}

// UnmarshalYAML keeps the raw text; validation reports a bad value with its path.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	d.Raw = n.Value
	if n.Kind != yaml.ScalarNode {
		d.bad = true
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		d.bad = true
		return nil
	}
	d.D = v
	return nil
}

// MarshalYAML prints the duration as text.
func (d Duration) MarshalYAML() (any, error) {
	if d.Raw != "" {
		return d.Raw, nil
	}
	return d.D.String(), nil
}

func (d Duration) set() bool { return d.Raw != "" }

// Dur builds a Duration from a value, for defaults and tests.
func Dur(v time.Duration) Duration { return Duration{D: v, Raw: v.String()} }

var sizeRE = regexp.MustCompile(`^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$`)

// UnmarshalYAML parses "64KiB", "1GiB", "500MB" or a number of bytes.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	b.Raw = n.Value
	m := sizeRE.FindStringSubmatch(n.Value)
	if n.Kind != yaml.ScalarNode || m == nil {
		b.bad = true
		return nil
	}
	f, _ := strconv.ParseFloat(m[1], 64)
	mult := map[string]float64{"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[m[2]]
	b.N = int64(f * mult)
	return nil
}

// MarshalYAML prints the size as text.
func (b ByteSize) MarshalYAML() (any, error) {
	if b.Raw != "" {
		return b.Raw, nil
	}
	return strconv.FormatInt(b.N, 10), nil
}

func (b ByteSize) set() bool { return b.Raw != "" }

// Bytes builds a ByteSize from a number, for defaults and tests.
func Bytes(n int64) ByteSize { return ByteSize{N: n, Raw: strconv.FormatInt(n, 10)} }
