package config

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// EditError is an edit Upsert cannot make on this file (the caller answers 400).
type EditError struct{ Msg string }

func (e *EditError) Error() string { return e.Msg }

func editErr(format string, a ...any) error { return &EditError{Msg: fmt.Sprintf(format, a...)} }

// Upsert inserts or replaces one entry of a block sequence of the configuration file
// data, the one whose key field equals value: a device (path ["devices"], key "id") or a
// source (path ["sources", "opcua"], key "name"). item is the entry as JSON (an object);
// its key field, when absent, is set to value, and when different refused.
//
// The entry's place is found on the yaml.v3 node tree; the file is then edited as text:
// the old entry's lines (from its "- " to the line before whatever follows it, comments
// and blank lines just before the next entry or key staying with that) are replaced by
// the new entry rendered in block style at the same indentation, or a new entry goes
// after the last one. Every other byte of the file, comments included, is kept.
func Upsert(data []byte, path []string, key, value string, item []byte) ([]byte, error) {
	out, err := upsert(data, path, key, value, item)
	if err != nil {
		return nil, err
	}
	// The text edit must have made the edit the tree says: the result parses and holds
	// the entry exactly once. A file this cannot be said of (several documents, a flow
	// mapping at the top) is refused rather than guessed at.
	var root yaml.Node
	n := 0
	if yaml.Unmarshal(out, &root) == nil && len(root.Content) == 1 {
		seq := root.Content[0]
		for _, p := range path {
			_, seq = mapGet(seq, p)
			if seq == nil {
				break
			}
		}
		if seq != nil && seq.Kind == yaml.SequenceNode {
			for _, it := range seq.Content {
				if _, v := mapGet(it, key); v != nil && v.Value == value {
					n++
				}
			}
		}
	}
	if n != 1 {
		return nil, editErr("%s: this file's layout cannot be edited entry by entry: edit the whole file", strings.Join(path, "."))
	}
	return out, nil
}

func upsert(data []byte, path []string, key, value string, item []byte) ([]byte, error) {
	node, err := itemNode(item, key, value)
	if err != nil {
		return nil, err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, editErr("the configuration file does not parse: %v", err)
	}
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode || root.Content[0].Style&yaml.FlowStyle != 0 {
		return nil, editErr("the configuration file is not a block mapping: edit the whole file")
	}
	lines := splitLines(data)
	doc := root.Content[0]
	parent, seqKey, seq := doc, (*yaml.Node)(nil), (*yaml.Node)(nil)
	for i, name := range path {
		k, v := mapGet(parent, name)
		if k == nil {
			if i == 0 {
				return appendTopLevel(lines, path, node)
			}
			if parent.Style&yaml.FlowStyle != 0 || len(parent.Content) == 0 || i != len(path)-1 {
				return nil, editErr("%s: missing: add it to the file first", strings.Join(path[:i+1], "."))
			}
			// A new key at the end of the parent mapping, e.g. sources.mqtt.
			indent := strings.Repeat(" ", parent.Content[0].Column-1)
			end := backOverComments(lines, parent.Content[0].Line, endOfNode(doc, parent, len(lines)))
			if end > 0 && !strings.HasSuffix(lines[end-1], "\n") {
				lines[end-1] += "\n"
			}
			add := append([]string{indent + quoteKey(name) + ":\n"}, renderItem(node, indent+"  - ", indent+"    ", "\n")...)
			return join(lines[:end], add, lines[end:]), nil
		}
		if i < len(path)-1 {
			if v.Kind != yaml.MappingNode || v.Style&yaml.FlowStyle != 0 {
				return nil, editErr("%s: not a block mapping: edit the whole file", strings.Join(path[:i+1], "."))
			}
			parent = v
			continue
		}
		seqKey, seq = k, v
	}
	if seq.Kind == yaml.ScalarNode && (seq.Tag == "!!null") || seq.Kind == yaml.SequenceNode && len(seq.Content) == 0 {
		// "devices:" or "devices: []": the key's line becomes "devices:" and the entry follows.
		l := seqKey.Line - 1
		end := seq.Line - 1
		if seq.Kind == yaml.SequenceNode && seq.Style&yaml.FlowStyle != 0 && end != l {
			return nil, editErr("%s: a flow sequence over several lines: edit the whole file", strings.Join(path, "."))
		}
		indent := strings.Repeat(" ", seqKey.Column-1)
		head := indent + quoteKey(seqKey.Value) + ":" + lineEnding(lines[l])
		body := renderItem(node, indent+"  - ", indent+"    ", lineEnding(lines[l]))
		return join(lines[:l], []string{head}, body, lines[l+1:]), nil
	}
	if seq.Kind != yaml.SequenceNode || seq.Style&yaml.FlowStyle != 0 {
		return nil, editErr("%s: not a block sequence: edit the whole file", strings.Join(path, "."))
	}
	// Entries may be block or flow mappings ("- {id: m1, kind: machine}", common in
	// hand-written files): an entry is the lines from its "- " to the next entry's, so
	// either style is replaced whole; the result is checked by parsing it again.
	for _, it := range seq.Content {
		if it.Kind != yaml.MappingNode {
			return nil, editErr("%s: an entry that is not a mapping (line %d): edit the whole file", strings.Join(path, "."), it.Line)
		}
	}
	// Where each entry starts and ends (0-based lines, end exclusive).
	first := seq.Content[0]
	firstLine := lines[first.Line-1]
	if first.Column-1 > len(firstLine) || strings.TrimLeft(firstLine[:first.Column-1], " -") != "" {
		return nil, editErr("%s: entries not written as \"- key: value\": edit the whole file", strings.Join(path, "."))
	}
	prefix, cont := firstLine[:first.Column-1], strings.Repeat(" ", first.Column-1)
	eol := lineEnding(firstLine)
	limit := endOfNode(doc, seq, len(lines))
	for i, it := range seq.Content {
		if _, v := mapGet(it, key); v == nil || v.Value != value {
			continue
		}
		start := it.Line - 1
		end := limit
		if i+1 < len(seq.Content) {
			end = seq.Content[i+1].Line - 1
		}
		end = backOverComments(lines, start+1, end)
		return join(lines[:start], renderItem(node, prefix, cont, eol), lines[end:]), nil
	}
	last := seq.Content[len(seq.Content)-1]
	end := backOverComments(lines, last.Line, limit)
	if end > 0 && !strings.HasSuffix(lines[end-1], "\n") {
		lines[end-1] += eol
	}
	return join(lines[:end], renderItem(node, prefix, cont, eol), lines[end:]), nil
}

// itemNode parses the JSON object item into a block-style node with key set to value.
func itemNode(item []byte, key, value string) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(item, &doc); err != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, editErr("the entry must be a JSON object")
	}
	n := doc.Content[0]
	if _, v := mapGet(n, key); v != nil {
		if v.Kind != yaml.ScalarNode || v.Value != value {
			return nil, editErr("%s: %q, but the path names %q", key, truncate(v.Value, 64), truncate(value, 64))
		}
	} else {
		n.Content = append([]*yaml.Node{{Kind: yaml.ScalarNode, Value: key}, {Kind: yaml.ScalarNode, Value: value, Tag: "!!str"}}, n.Content...)
	}
	blockStyle(n)
	return n, nil
}

// blockStyle clears JSON's flow and quoting styles, so the encoder writes block style
// and quotes only strings that would otherwise read as another type.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// renderItem renders n as a sequence entry: prefix ("  - ") on its first line, cont
// (spaces) on the others.
func renderItem(n *yaml.Node, prefix, cont, eol string) []string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	_ = enc.Encode(n) // a node parsed from JSON always encodes
	_ = enc.Close()
	out := strings.SplitAfter(strings.TrimSuffix(buf.String(), "\n"), "\n")
	for i, l := range out {
		l = strings.TrimSuffix(l, "\n") + eol
		if i == 0 {
			out[i] = prefix + l
		} else {
			out[i] = cont + l
		}
	}
	return out
}

// appendTopLevel adds path (all of it missing from the file) with its first entry at
// the end of the file.
func appendTopLevel(lines []string, path []string, n *yaml.Node) ([]byte, error) {
	if len(path) > 2 {
		return nil, errors.New("config: path too deep")
	}
	if len(lines) > 0 && !strings.HasSuffix(lines[len(lines)-1], "\n") {
		lines[len(lines)-1] += "\n"
	}
	var add []string
	indent := ""
	for _, p := range path {
		add = append(add, indent+quoteKey(p)+":\n")
		indent += "  "
	}
	add = append(add, renderItem(n, indent+"- ", indent+"  ", "\n")...)
	return join(lines, add), nil
}

// endOfNode returns the 0-based line where seq's content ends: the line of the first
// node of doc after every node of seq, else the end of the file.
func endOfNode(doc, seq *yaml.Node, n int) int {
	maxIn := 0
	var inSeq func(x *yaml.Node)
	inSeq = func(x *yaml.Node) {
		maxIn = max(maxIn, x.Line)
		for _, c := range x.Content {
			inSeq(c)
		}
	}
	inSeq(seq)
	end := n
	var walk func(x *yaml.Node)
	walk = func(x *yaml.Node) {
		if x.Line > maxIn {
			end = min(end, x.Line-1)
		}
		for _, c := range x.Content {
			walk(c)
		}
	}
	walk(doc)
	return end
}

// backOverComments moves end back over the blank and comment lines that precede it (to
// no earlier than min): they belong to what follows.
func backOverComments(lines []string, min, end int) int {
	for end > min {
		t := strings.TrimSpace(lines[end-1])
		if t != "" && !strings.HasPrefix(t, "#") {
			break
		}
		end--
	}
	return end
}

func mapGet(m *yaml.Node, key string) (k, v *yaml.Node) {
	if m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

func splitLines(data []byte) []string {
	if len(data) == 0 {
		return nil
	}
	l := strings.SplitAfter(string(data), "\n")
	if l[len(l)-1] == "" {
		l = l[:len(l)-1]
	}
	return l
}

func lineEnding(l string) string {
	if strings.HasSuffix(l, "\r\n") {
		return "\r\n"
	}
	return "\n"
}

func quoteKey(k string) string {
	b, err := yaml.Marshal(k)
	if err != nil {
		return k
	}
	return strings.TrimSuffix(string(b), "\n")
}

func join(parts ...[]string) []byte {
	var b strings.Builder
	for _, p := range parts {
		for _, l := range p {
			b.WriteString(l)
		}
	}
	return []byte(b.String())
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
