package yamlsyntax

import (
	"fmt"
	"strconv"

	"gopkg.in/yaml.v3"
)

// DuplicateKey words a mapping key defined twice, for every loader of the gateway and the
// aggregator: `key "id" already defined at line 2`.
func DuplicateKey(key string, firstLine int) string {
	return fmt.Sprintf("key %q already defined at line %d", key, firstLine)
}

// maxDuplicates bounds the duplicates Duplicates reports (a generated file can repeat a
// key thousands of times; the first ones say what is wrong).
const maxDuplicates = 20

// Duplicate is a mapping key defined a second time: at Line, with the YAML Path of the
// key (devices[1].topic), first defined at line First.
type Duplicate struct {
	Line      int
	Path, Key string
	First     int
}

// Msg is DuplicateKey for d.
func (d Duplicate) Msg() string { return DuplicateKey(d.Key, d.First) }

// Error formats d as "line N: PATH: key ..." (without "PATH: " for an empty key at the
// top).
func (d Duplicate) Error() string {
	if d.Path == "" {
		return fmt.Sprintf("line %d: %s", d.Line, d.Msg())
	}
	return fmt.Sprintf("line %d: %s: %s", d.Line, d.Path, d.Msg())
}

// Duplicates returns the mapping keys of doc defined twice in their mapping, in document
// order and at most maxDuplicates. Aliases are not followed, and the merge key "<<" may
// repeat.
func Duplicates(doc *yaml.Node) []Duplicate {
	var out []Duplicate
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		if len(out) >= maxDuplicates {
			return
		}
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			first := make(map[string]int, len(n.Content)/2)
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				if k.Kind != yaml.ScalarNode || k.Value == "<<" {
					walk(n.Content[i+1], p)
					continue
				}
				if l, dup := first[k.Value]; dup {
					if len(out) < maxDuplicates {
						out = append(out, Duplicate{Line: k.Line, Path: p, Key: k.Value, First: l})
					}
					continue
				}
				first[k.Value] = k.Line
				walk(n.Content[i+1], p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, path+"["+strconv.Itoa(i)+"]")
			}
		}
	}
	walk(doc, "")
	return out
}
