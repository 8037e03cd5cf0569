package registry

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one error in a registry file: the file, the 1-based line (0 when
// unknown), the field (a YAML path such as "enterprises[2].region", or a CSV column
// name) and what is wrong.
type Problem struct {
	File  string
	Line  int
	Field string
	Msg   string
}

// Error formats the problem as "file:line: field: msg".
func (p Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	if p.Field != "" {
		b.WriteString(": ")
		b.WriteString(p.Field)
	}
	b.WriteString(": ")
	b.WriteString(p.Msg)
	return b.String()
}

// Errors is every problem found while loading a registry, ordered by file (the YAML
// file first, then the CSV files in the order they are listed) and line.
type Errors []Problem

// Error joins the problems, one per line.
func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, p := range e {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// maxProblems bounds the report for a hopeless file (say, a CSV in the wrong encoding).
const maxProblems = 100

type problems struct {
	list  Errors
	order map[string]int // file → rank
}

func (ps *problems) add(file string, line int, field, format string, a ...any) {
	if _, ok := ps.order[file]; !ok {
		ps.order[file] = len(ps.order)
	}
	ps.list = append(ps.list, Problem{File: file, Line: line, Field: field, Msg: fmt.Sprintf(format, a...)})
}

func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	sort.SliceStable(ps.list, func(i, j int) bool {
		a, b := ps.list[i], ps.list[j]
		if a.File != b.File {
			return ps.order[a.File] < ps.order[b.File]
		}
		return a.Line < b.Line
	})
	if len(ps.list) > maxProblems {
		n := len(ps.list)
		ps.list = append(ps.list[:maxProblems:maxProblems], Problem{File: ps.list[maxProblems].File,
			Msg: fmt.Sprintf("%d more problems not shown", n-maxProblems)})
	}
	return ps.list
}
