package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
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

// LoadFile reads, expands, decodes, defaults and validates the file at path. On failure
// the error is an Errors listing every problem found (or a plain read error).
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Load(data, os.LookupEnv)
}

// Load parses a configuration from data. lookupEnv resolves ${VAR} references.
func Load(data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, Errors{yamlSyntaxProblem(err)}
	}
	if len(root.Content) == 0 {
		return nil, Errors{{Msg: "empty configuration"}}
	}
	// The walks below follow aliases: an alias inside its own anchor, or aliases that
	// expand excessively, are refused here first.
	var probe any
	if err := root.Content[0].Decode(&probe); err != nil {
		return nil, Errors{yamlSyntaxProblem(err)}
	}
	idx := index{lines: map[string]int{}, byLine: map[int][]string{}}
	idx.walk(root.Content[0], "")

	var probs Errors
	expandEnv(root.Content[0], "", lookupEnv, &probs, &idx)

	// Unknown keys do not stop validation: the rest of the file is still checked.
	var unknown Errors
	checkKnown(root.Content[0], reflect.TypeOf(Config{}), "", &unknown)
	var cfg Config
	if err := root.Content[0].Decode(&cfg); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, msg := range te.Errors {
				probs = append(probs, idx.typeProblem(msg))
			}
		} else {
			probs = append(probs, yamlSyntaxProblem(err))
		}
	}
	if len(probs) > 0 {
		probs = append(probs, unknown...)
		sortProblems(probs)
		return nil, probs
	}
	probs = unknown
	var secretProbs Errors
	cfg.readSecretFiles(&secretProbs)
	for _, p := range secretProbs {
		p.Line = idx.line(p.Path)
		probs = append(probs, p)
	}
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

// checkKnown reports every mapping key that names no field of t (strict decoding).
func checkKnown(n *yaml.Node, t reflect.Type, path string, probs *Errors) {
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
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name != "" && name != "-" {
				fields[name] = f.Type
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				*probs = append(*probs, Problem{Path: join(k.Value), Line: k.Line, Msg: "unknown key"})
				continue
			}
			checkKnown(n.Content[i+1], ft, join(k.Value), probs)
		}
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Map:
		for i := 0; i+1 < len(n.Content); i += 2 {
			checkKnown(n.Content[i+1], t.Elem(), join(n.Content[i].Value), probs)
		}
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for i, c := range n.Content {
			checkKnown(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), probs)
		}
	}
}

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

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

// index maps YAML paths to lines of the original document.
type index struct {
	lines  map[string]int
	byLine map[int][]string
}

func (ix *index) add(path string, line int) {
	if _, ok := ix.lines[path]; !ok {
		ix.lines[path] = line
		ix.byLine[line] = append(ix.byLine[line], path)
	}
}

func (ix *index) walk(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.MappingNode:
		if path != "" {
			ix.add(path, n.Line)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			ix.add(p, k.Line)
			ix.walk(v, p)
		}
	case yaml.SequenceNode:
		ix.add(path, n.Line)
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			ix.add(p, c.Line)
			ix.walk(c, p)
		}
	case yaml.AliasNode:
		if n.Alias != nil {
			ix.walk(n.Alias, path)
		}
	}
}

// line returns the line of path, or of its closest ancestor present in the file.
func (ix *index) line(path string) int {
	for p := path; p != ""; {
		if l, ok := ix.lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

var (
	cannotUnmarshRE = regexp.MustCompile(`^line (\d+): cannot unmarshal !!(\w+) ` + "`" + `(.*)` + "`" + ` into (\S+)$`)
)

// typeProblem turns a yaml.v3 decode message into a Problem with the key's path.
func (ix *index) typeProblem(msg string) Problem {
	if m := cannotUnmarshRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		path := ""
		if ps := ix.byLine[line]; len(ps) > 0 {
			path = ps[len(ps)-1]
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
		case strings.HasPrefix(want, "map"), strings.HasPrefix(want, "config."):
			want = "a mapping"
		}
		return Problem{Path: path, Line: line, Msg: fmt.Sprintf("invalid value %q: want %s", m[3], want)}
	}
	return yamlSyntaxProblem(errors.New(msg))
}

var envRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces ${VAR} in every scalar value; an unset variable is a problem.
func expandEnv(n *yaml.Node, path string, lookup func(string) (string, bool), probs *Errors, ix *index) {
	switch n.Kind {
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return
		}
		n.Value = envRE.ReplaceAllStringFunc(n.Value, func(m string) string {
			name := m[2 : len(m)-1]
			v, ok := lookup(name)
			if !ok {
				*probs = append(*probs, Problem{Path: path, Line: n.Line,
					Msg: fmt.Sprintf("environment variable %q is not set", name)})
			}
			return v
		})
		if n.Tag == "!!str" || n.Style != 0 {
			return
		}
		n.Tag = "" // let the decoder resolve the expanded text's type
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := n.Content[i].Value
			if path != "" {
				p = path + "." + p
			}
			expandEnv(n.Content[i+1], p, lookup, probs, ix)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			expandEnv(c, fmt.Sprintf("%s[%d]", path, i), lookup, probs, ix)
		}
	}
}

// readSecretFiles fills secrets from their *_file keys.
func (c *Config) readSecretFiles(probs *Errors) {
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
	}
	if a := c.Admin.BasicAuth; a != nil {
		read("admin.basic_auth.password", a.PasswordFile, &a.Password)
	}
	read("admin.token", c.Admin.TokenFile, &c.Admin.Token)
	for i := range c.Sources.OPCUA {
		s := &c.Sources.OPCUA[i]
		read(fmt.Sprintf("sources.opcua[%d].password", i), s.PasswordFile, &s.Password)
	}
	for i := range c.Sources.MQTT {
		s := &c.Sources.MQTT[i]
		read(fmt.Sprintf("sources.mqtt[%d].password", i), s.PasswordFile, &s.Password)
	}
	for i := range c.Sinks.Influx {
		s := &c.Sinks.Influx[i]
		read(fmt.Sprintf("sinks.influx[%d].token", i), s.TokenFile, &s.Token)
	}
}

// maxSecretBytes bounds a secret file, maxPEMBytes a certificate or key file.
const (
	maxSecretBytes = 64 << 10
	maxPEMBytes    = 1 << 20
)

// readFileLimit reads a file of at most limit bytes (so a device such as /dev/zero
// named by mistake fails instead of filling memory). Errors leave out the path, which
// the caller names.
func readFileLimit(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, pathErr(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, pathErr(err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}

// pathErr drops the path from an *fs.PathError.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
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
