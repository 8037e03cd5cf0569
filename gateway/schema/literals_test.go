package schema_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/ganlink/ganlink/gateway/schema"
)

// checkedNames are the contract names no string literal outside gateway/schema may
// equal: the measurements and every KPI field name with an underscore (single words such
// as "parts" or "workshops", and tag names such as "window" or "region", are too common
// to check without false alarms). The raw signal names (Raw*, the KPI role names) are not
// checked: they are also the field names users write in their configurations, and the
// configuration examples and device simulators spell them.
func checkedNames() map[string]bool {
	names := map[string]bool{}
	for m, fields := range schema.Measurements() {
		names[m] = true
		for _, f := range fields {
			if strings.Contains(f, "_") {
				names[f] = true
			}
		}
	}
	return names
}

// embedded finds a measurement name used as the prefix of a VictoriaMetrics name
// (device_kpi_running_s, workshop_kpi_%s) inside a longer literal, such as a query.
// Prose that mentions a measurement ("from the device_kpi series") is not a name.
func embedded() *regexp.Regexp {
	var ms []string
	for m := range schema.Measurements() {
		ms = append(ms, regexp.QuoteMeta(m))
	}
	sort.Strings(ms)
	return regexp.MustCompile(`(?:^|[^A-Za-z0-9_])(?:` + strings.Join(ms, "|") + `)_`)
}

// schemaLiterals returns file:line: literal for every string literal in the non-test Go
// files under root (except gateway/schema) that spells a contract name. Import paths and
// struct tags are not literals in this sense.
func schemaLiterals(t *testing.T, root string) []string {
	t.Helper()
	names, emb := checkedNames(), embedded()
	self := filepath.Join(root, "gateway", "schema")
	var out []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			base := d.Name()
			if path != root && (strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_") ||
				base == "testdata" || base == "vendor" || base == "node_modules" || path == self) {
				return filepath.SkipDir
			}
			if path != root {
				if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
					return filepath.SkipDir // another module
				}
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		skip := map[*ast.BasicLit]bool{}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ImportSpec:
				skip[n.Path] = true
			case *ast.Field:
				if n.Tag != nil {
					skip[n.Tag] = true
				}
			case *ast.BasicLit:
				if n.Kind != token.STRING || skip[n] {
					return true
				}
				s, err := strconv.Unquote(n.Value)
				if err != nil {
					return true
				}
				if names[s] || emb.MatchString(s) {
					rel, _ := filepath.Rel(root, fset.Position(n.Pos()).Filename)
					out = append(out, rel+":"+strconv.Itoa(fset.Position(n.Pos()).Line)+": "+n.Value)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// TestNoSchemaLiterals fails for every string literal outside gateway/schema that spells
// a measurement or field name of the TSDB contract, or embeds a measurement name (as in
// a query string): those names are spelled once, in this package.
func TestNoSchemaLiterals(t *testing.T) {
	for _, l := range schemaLiterals(t, moduleRoot(t)) {
		t.Errorf("%s: use the gateway/schema constant", l)
	}
}

// TestSchemaLiteralsFound proves the check sees what it must and ignores what it must:
// a plain name, a name inside a query, a raw string, a name prefix; not an import path,
// a struct tag, a comment, prose, a test file or a longer identifier.
func TestSchemaLiteralsFound(t *testing.T) {
	root := t.TempDir()
	write := func(name, src string) {
		t.Helper()
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/m\n")
	write("a/a.go", `package a

import _ "example.com/m/device_kpi"

// cnc_rate in a comment, "workshop_kpi" too.
type T struct {
	F int `+"`json:\"cnc_rate\"`"+`
}

var (
	m     = "workshop_kpi"
	f     = "networked_rate_all"
	q     = `+"`sum(device_kpi_running_s{window=\"1m\"})`"+`
	other = "ganlink_workshop_kpi"
	word  = "parts"
	pre   = "region_kpis"
	prose = "from the device_kpi series"
	tmpl  = "programme_progress_"
)
`)
	write("a/a_test.go", "package a\n\nvar x = \"cnc_rate\"\n")
	write("gateway/schema/s.go", "package schema\n\nconst X = \"cnc_rate\"\n")
	write("a/testdata/t.go", "package t\n\nvar x = \"cnc_rate\"\n")
	got := schemaLiterals(t, root)
	want := []string{
		"a/a.go:11: \"workshop_kpi\"",
		"a/a.go:12: \"networked_rate_all\"",
		"a/a.go:13: `sum(device_kpi_running_s{window=\"1m\"})`",
		"a/a.go:18: \"programme_progress_\"",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("found\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
