package app_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/ganlink/ganlink/gateway/app"
)

// TestAdminAPIDocumented: every route the admin server of a fully configured gateway
// registers is in docs/admin-api.openapi.yaml with its method, and every documented
// operation is registered.
func TestAdminAPIDocumented(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "admin-api.openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                               `yaml:"openapi"`
		Paths   map[string]map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q", doc.OpenAPI)
	}
	var documented []string
	for p, ops := range doc.Paths {
		for m := range ops {
			documented = append(documented, strings.ToUpper(m)+" "+p)
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(path, []byte(`workshop: {region: "360100", park: p1, enterprise: e1, workshop: ws1}
admin: {listen: "127.0.0.1:0", pprof: true, users: [{name: li, role: engineer, password: x}]}
queue: {dir: `+filepath.Join(dir, "data", "queue")+`}
kpi: {state_file: `+filepath.Join(dir, "data", "kpi.json")+`}
devices:
  - {id: m1, kind: machine}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := app.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := runGatewayConfig(t, cfg, app.Options{ConfigPath: path})
	var registered []string
	for _, r := range a.Admin().Routes() {
		registered = append(registered, strings.Replace(r, "{$}", "", 1))
	}
	for _, r := range registered {
		if !slices.Contains(documented, r) {
			t.Errorf("route %q is not in docs/admin-api.openapi.yaml", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(registered, d) {
			t.Errorf("documented %q is not registered", d)
		}
	}
}

// TestAdminAPIRefsResolve: every $ref of docs/admin-api.openapi.yaml names a part of the
// document.
func TestAdminAPIRefsResolve(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "admin-api.openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	refs := 0
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if k == "$ref" {
					refs++
					ref, _ := c.(string)
					var at any = doc
					for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
						m, _ := at.(map[string]any)
						at = m[part]
					}
					if !strings.HasPrefix(ref, "#/") || at == nil {
						t.Errorf("$ref %q resolves to nothing", ref)
					}
					continue
				}
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(doc)
	if refs < 20 {
		t.Fatalf("only %d $refs found", refs)
	}
}
