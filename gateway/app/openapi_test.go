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

// otherPackages are documented paths that packages other than gateway/admin mount on
// the admin server (gateway/commission, the commissioning page); each must be registered
// once any route of its prefix is.
var otherPackages = []string{"/api/commission/", "/commission"}

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
	mounted := func(prefix string) bool {
		return slices.ContainsFunc(registered, func(r string) bool {
			_, p, _ := strings.Cut(r, " ")
			return strings.HasPrefix(p, prefix)
		})
	}
	for _, d := range documented {
		if slices.Contains(registered, d) {
			continue
		}
		_, p, _ := strings.Cut(d, " ")
		i := slices.IndexFunc(otherPackages, func(pre string) bool { return strings.HasPrefix(p, pre) })
		if i >= 0 && !mounted(otherPackages[i]) {
			t.Logf("%s: documented; its package is not mounted in this build", d)
			continue
		}
		t.Errorf("documented %q is not registered", d)
	}
}
