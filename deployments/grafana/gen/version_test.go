package main

import (
	"encoding/json"
	"os"
	"regexp"
	"testing"
)

// schemaGrafana is the first Grafana release of each dashboard schemaVersion the
// generator has emitted (Grafana's DashboardMigrator: 41 in 12.0, 42 in 12.2).
var schemaGrafana = map[int]string{41: "12.0", 42: "12.2"}

// TestGrafanaPinMatchesSchema: the Grafana image the compose kit pins knows the
// schemaVersion of every generated dashboard (it is that schema's first release or
// later), so Grafana loads them without guessing at a newer schema.
func TestGrafanaPinMatchesSchema(t *testing.T) {
	compose, err := os.ReadFile("../../compose/docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`image: grafana/grafana(?:-oss)?:(\d+)\.(\d+)\.\d+`).FindSubmatch(compose)
	if m == nil {
		t.Fatal("docker-compose.yml pins no Grafana version")
	}
	pinned := string(m[1]) + "." + string(m[2])
	files, err := Dashboards()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		var d struct {
			SchemaVersion int `json:"schemaVersion"`
		}
		if err := json.Unmarshal(f.Data, &d); err != nil {
			t.Fatal(err)
		}
		first, ok := schemaGrafana[d.SchemaVersion]
		if !ok {
			t.Fatalf("%s: schemaVersion %d: name its first Grafana release in schemaGrafana and pin one in compose", f.Name, d.SchemaVersion)
		}
		if versionLess(pinned, first) {
			t.Errorf("%s: schemaVersion %d needs Grafana %s or later; compose pins %s", f.Name, d.SchemaVersion, first, pinned)
		}
	}
}

// versionLess compares "major.minor" strings numerically.
func versionLess(a, b string) bool {
	var am, an, bm, bn int
	parse := func(s string, m, n *int) {
		re := regexp.MustCompile(`^(\d+)\.(\d+)$`).FindStringSubmatch(s)
		for i, p := range re[1:] {
			v := 0
			for _, c := range p {
				v = v*10 + int(c-'0')
			}
			if i == 0 {
				*m = v
			} else {
				*n = v
			}
		}
	}
	parse(a, &am, &an)
	parse(b, &bm, &bn)
	return am < bm || (am == bm && an < bn)
}
