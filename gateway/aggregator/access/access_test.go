package access

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ganlink/ganlink/gateway/aggregator/registry"
	"github.com/ganlink/ganlink/internal/testsrv"
)

const testRegistry = `regions:
  - {code: "360000", name: 江西省}
  - {code: "360100", name: 南昌市}
  - {code: "360111", name: 青山湖区}
  - {code: "360200", name: 景德镇市}
parks:
  - {id: p1, name: 一园, region: "360100"}
  - {id: p2, name: 二园, region: "360111"}
  - {id: p3, name: 三园, region: "360200"}
`

func loadRegistry(t *testing.T, yml string) *registry.Registry {
	t.Helper()
	path := filepath.Join(t.TempDir(), "registry.yaml")
	if err := os.WriteFile(path, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestCredentials: the first run generates a password per user (32 URL-safe characters,
// file mode 0600); a second run changes nothing; a park dropped from the registry drops
// its user and keeps the others' passwords.
func TestCredentials(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access", "tsdb-users.txt")
	users := Users(loadRegistry(t, testRegistry))
	var names []string
	for _, u := range users {
		names = append(names, u.Name+":"+u.Label+"="+u.Value)
	}
	if want := []string{"province:=", "region-360000:region=360000", "region-360100:region=360100", "region-360111:region=360111",
		"region-360200:region=360200", "park-p1:park=p1", "park-p2:park=p2", "park-p3:park=p3"}; !slices.Equal(names, want) {
		t.Fatalf("users %v\nwant %v", names, want)
	}
	pw, added, dropped, err := Credentials(path, users)
	if err != nil || len(added) != 8 || len(dropped) != 0 {
		t.Fatalf("first run: added %v dropped %v err %v", added, dropped, err)
	}
	for name, p := range pw {
		if !regexp.MustCompile(`^[A-Za-z0-9_-]{32}$`).MatchString(p) {
			t.Errorf("password of %s: %q", name, p)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file mode %v, %v; want 0600", fi.Mode(), err)
	}
	before, _ := os.ReadFile(path)
	pw2, added, dropped, err := Credentials(path, users)
	after, _ := os.ReadFile(path)
	if err != nil || added != nil || dropped != nil || string(before) != string(after) || pw2["park-p1"] != pw["park-p1"] {
		t.Fatalf("second run: added %v dropped %v err %v, file changed %v", added, dropped, err, string(before) != string(after))
	}
	fewer := Users(loadRegistry(t, strings.Replace(testRegistry, "  - {id: p3, name: 三园, region: \"360200\"}\n", "", 1)))
	pw3, added, dropped, err := Credentials(path, fewer)
	if err != nil || added != nil || !slices.Equal(dropped, []string{"park-p3"}) || pw3["park-p1"] != pw["park-p1"] || len(pw3) != 7 {
		t.Fatalf("after dropping p3: added %v dropped %v err %v, %d users", added, dropped, err, len(pw3))
	}
	if err := os.WriteFile(path, []byte("province\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := Credentials(path, users); err == nil || err.Error() != path+`:1: want "user password", got 1 fields` {
		t.Fatalf("damaged file: %v", err)
	}
}

// TestParkUserIsolation: behind vmauth configured by Config, a park user reads its own
// park's series and nothing of another park's, whatever it asks: selectors naming the
// other park, a regex over every name, its own extra_label or extra_filters, every read
// endpoint, and the endpoints not routed (export, federate, write, delete, status, the
// UI, a path climbing out of a routed one). A region user sees its region's tag; the
// province user sees everything; wrong or missing credentials are refused.
func TestParkUserIsolation(t *testing.T) {
	vm := testsrv.StartVictoria(t)
	now := time.Now().Add(-time.Minute).Truncate(time.Second)
	var lp strings.Builder
	for _, s := range []struct{ park, region, ws string }{{"p1", "360100", "w1"}, {"p2", "360111", "w2"}, {"p3", "360200", "w3"}} {
		fmt.Fprintf(&lp, "workshop_kpi,park=%s,region=%s,workshop=%s,window=1m parts=%d %d\n", s.park, s.region, s.ws, len(s.ws), now.UnixNano())
		fmt.Fprintf(&lp, "gateway_health,park=%s,region=%s,workshop=%s uptime_s=60 %d\n", s.park, s.region, s.ws, now.UnixNano())
	}
	resp, err := http.Post(vm.URL+"/write", "text/plain", strings.NewReader(lp.String()))
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %v %v", resp, err)
	}
	resp.Body.Close()
	vm.Flush()

	dir := t.TempDir()
	users := Users(loadRegistry(t, testRegistry))
	pw, _, _, err := Credentials(filepath.Join(dir, "tsdb-users.txt"), users)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Config(users, vm.URL+"/", pw)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "vmauth.yml")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	va := testsrv.StartVMAuth(t, cfgPath, VMAuthFlags("k3y")...)

	get := func(user, password, method, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, va.URL+path, strings.NewReader("x,park=p1 v=1\n"))
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	q := func(endpoint string, args ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(args); i += 2 {
			v.Add(args[i], args[i+1])
		}
		return endpoint + "?" + v.Encode()
	}
	start, end := fmt.Sprint(now.Add(-time.Hour).Unix()), fmt.Sprint(now.Add(time.Minute).Unix())
	all := `{__name__=~".+"}`
	// Every read a park-p1 user may try, with the workshops it must see.
	reads := []struct {
		path string
		want []string
	}{
		{q("/api/v1/query", "query", "workshop_kpi_parts"), []string{"w1"}},
		{q("/api/v1/query", "query", `workshop_kpi_parts{park="p2"}`), nil},
		{q("/api/v1/query", "query", all), []string{"w1"}},
		{q("/api/v1/query", "query", `sum by (workshop) ({park!="p1"})`), nil},
		{q("/api/v1/query", "query", "workshop_kpi_parts or gateway_health_uptime_s"), []string{"w1"}},
		{q("/api/v1/query", "query", "workshop_kpi_parts", "extra_label", "park=p2"), []string{"w1"}}, // vmauth's filter wins
		{q("/api/v1/query", "query", "workshop_kpi_parts", "extra_filters[]", `{park="p2"}`), nil},
		{q("/api/v1/query", "query", "workshop_kpi_parts", "extra_filters[]", `{park=~".+"}`), []string{"w1"}},
		{q("/api/v1/query_range", "query", all, "start", start, "end", end, "step", "60"), []string{"w1"}},
		{q("/api/v1/series", "match[]", all, "start", start, "end", end), []string{"w1"}},
		{q("/api/v1/label/workshop/values", "start", start, "end", end), []string{"w1"}},
		{q("/api/v1/label/park/values", "start", start, "end", end), nil},
	}
	other := regexp.MustCompile(`w[23]|p[23]|3601\d\d|3602`)
	seen := regexp.MustCompile(`"w\d"|w\d"`)
	for _, r := range reads {
		code, body := get("park-p1", pw["park-p1"], "GET", r.path)
		if code != 200 {
			t.Errorf("park-p1 GET %s: %d %s", r.path, code, body)
			continue
		}
		if m := other.FindString(strings.ReplaceAll(body, "360100", "")); m != "" {
			t.Errorf("park-p1 GET %s leaks %q: %s", r.path, m, body)
		}
		var got []string
		for _, m := range seen.FindAllString(body, -1) {
			w := strings.Trim(m, `"`)
			if !slices.Contains(got, w) {
				got = append(got, w)
			}
		}
		if !slices.Equal(got, r.want) {
			t.Errorf("park-p1 GET %s: workshops %v, want %v: %s", r.path, got, r.want, body)
		}
	}
	// Not routed: refused before VictoriaMetrics.
	for _, r := range []struct{ method, path string }{
		{"GET", q("/api/v1/export", "match[]", all)}, {"GET", q("/federate", "match[]", all)},
		{"POST", "/write"}, {"POST", "/api/v2/write?bucket=b"}, {"POST", "/influx/write"},
		{"POST", q("/api/v1/admin/tsdb/delete_series", "match[]", all)}, {"GET", "/api/v1/status/tsdb"},
		{"GET", "/vmui/"}, {"GET", "/api/v1/query/../export?match[]=" + url.QueryEscape(all)},
		{"GET", "/metrics"}, {"GET", "/debug/pprof/"}, {"GET", "/-/reload"}, {"GET", "/internal/force_flush"},
	} {
		code, body := get("park-p1", pw["park-p1"], r.method, r.path)
		if code == 200 || code == 204 || other.MatchString(body) {
			t.Errorf("park-p1 %s %s: %d %s; want a refusal", r.method, r.path, code, body)
		}
	}
	vm.Flush()
	if n := len(vm.Export(`x_v`)); n != 0 {
		t.Errorf("a reader's write reached VictoriaMetrics: %d samples", n)
	}
	if code, body := get("", "", "GET", "/metrics?authKey=k3y"); code != 200 || !strings.Contains(body, "vmauth_") {
		t.Errorf("vmauth's own metrics with its key: %d", code)
	}
	// Credentials.
	for _, c := range []struct{ user, password string }{{"", ""}, {"park-p1", "wrong"}, {"park-p1", pw["park-p2"]}, {"nobody", "x"}} {
		// vmauth answers 401 without credentials and 400 ("cannot find the provided auth
		// token") for unknown ones.
		if code, body := get(c.user, c.password, "GET", q("/api/v1/query", "query", all)); (code != http.StatusUnauthorized && code != http.StatusBadRequest) || strings.Contains(body, "workshop") {
			t.Errorf("user %q password %q: %d %s; want 401 or 400", c.user, c.password, code, body)
		}
	}
	// Region and province users.
	for _, c := range []struct {
		user string
		want string
	}{{"region-360111", "w2"}, {"region-360100", "w1"}, {"region-360000", ""}, {ProvinceUser, "w1 w2 w3"}} {
		code, body := get(c.user, pw[c.user], "GET", q("/api/v1/label/workshop/values", "start", start, "end", end))
		var got []string
		for _, m := range seen.FindAllString(body, -1) {
			got = append(got, strings.Trim(m, `"`))
		}
		if code != 200 || strings.Join(got, " ") != c.want {
			t.Errorf("%s: %d workshops %v, want %q: %s", c.user, code, got, c.want, body)
		}
	}
}
