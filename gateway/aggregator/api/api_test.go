package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestOpenAPIDocumentsRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]struct {
			Parameters []struct {
				Name string `json:"name"`
				In   string `json:"in"`
			} `json:"parameters"`
			Responses map[string]any `json:"responses"`
			Security  *[]any         `json:"security"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q", doc.OpenAPI)
	}
	var paths []string
	for p := range doc.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	want := append(append(Routes(), PostRoutes()[1:]...), "/api/v1/openapi.json") // POST /api/v1/corrections shares its path with GET
	sort.Strings(want)
	if !reflect.DeepEqual(paths, want) {
		t.Errorf("documented paths %v, want %v", paths, want)
	}
	for _, r := range routes {
		op, ok := doc.Paths[r.path]["get"]
		if !ok {
			t.Errorf("%s: no get", r.path)
			continue
		}
		var params []string
		for _, p := range op.Parameters {
			if p.In != "query" {
				t.Errorf("%s: parameter %s in %s", r.path, p.Name, p.In)
			}
			params = append(params, p.Name)
		}
		if wantParams := append(append([]string{}, r.params...), "format"); !reflect.DeepEqual(params, wantParams) {
			t.Errorf("%s: documented parameters %v, want %v", r.path, params, wantParams)
		}
		for _, code := range []string{"200", "400", "401", "403", "404", "502", "503"} {
			if op.Responses[code] == nil {
				t.Errorf("%s: response %s not documented", r.path, code)
			}
		}
	}
	for _, r := range postRoutes {
		op, ok := doc.Paths[r.path]["post"]
		if !ok {
			t.Errorf("%s: no post", r.path)
			continue
		}
		for _, code := range []string{"400", "401", "403", "404", "503"} {
			if op.Responses[code] == nil {
				t.Errorf("%s: response %s not documented", r.path, code)
			}
		}
	}
	if s := doc.Paths["/api/v1/openapi.json"]["get"].Security; s == nil || len(*s) != 0 {
		t.Error("openapi.json must be documented without security")
	}
}

func TestParseTokens(t *testing.T) {
	h := HashToken("secret")
	if h != "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b" {
		t.Fatalf("HashToken = %s", h)
	}
	set, err := ParseTokens([]byte("tokens:\n  - {name: a, sha256: " + strings.ToUpper(h) + ", region: \"360100\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	tk := &Tokens{}
	tk.set.Store(&set)
	if got, ok := tk.Lookup("secret"); !ok || got.Name != "a" || got.Region != "360100" {
		t.Errorf("Lookup = %+v %v", got, ok)
	}
	if _, ok := tk.Lookup("Secret"); ok {
		t.Error("wrong token accepted")
	}
	tests := []struct{ in, want string }{
		{"tokens:\n  - {name: a, sha256: " + h + ", region: \"360100\", colour: red}\n",
			"decode: yaml: unmarshal errors:\n  line 2: field colour not found in type api.Token"},
		{"tokens:\n  - {name: a, sha256: abc, region: \"36\"}\n  - {sha256: " + h + ", region: \"360100\"}\n  - {name: a, sha256: " + h + ", region: \"360100\"}\n",
			"tokens[0].sha256: want 64 hex digits\ntokens[0].region: invalid region code \"36\": want 6 digits\n" +
				"tokens[1].name: required\ntokens[2].name: duplicate \"a\"\ntokens[2].sha256: same hash as token \"\""},
	}
	for _, tt := range tests {
		_, err := ParseTokens([]byte(tt.in))
		if err == nil || err.Error() != tt.want {
			t.Errorf("ParseTokens:\n%v\nwant\n%s", err, tt.want)
		}
	}
	tok, hash, err := NewToken()
	if err != nil || !strings.HasPrefix(tok, "glk_") || len(tok) != 68 || HashToken(tok) != hash {
		t.Errorf("NewToken = %q %q %v", tok, hash, err)
	}
}

func TestRecordEncoding(t *testing.T) {
	r := record{{"a", num(0.1 + 0.2)}, {"b", num(math.NaN())}, {"c", num(-0.0)}, {"d", num(1e21)}, {"e", optBool{}},
		{"f", optBool{true, true}}, {"g", record{{"x", 1}, {"y", "s,t"}}}, {"h", []string{"p", "q"}},
		{"i", time.Date(2024, 5, 1, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))}, {"j", nil}, {"k", num(2.5e-7)}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a":0.3,"b":null,"c":0,"d":1000000000000000000000,"e":null,"f":true,"g":{"x":1,"y":"s,t"},"h":["p","q"],"i":"2024-05-01T00:00:00+08:00","j":null,"k":0.00000025}`
	if string(b) != want {
		t.Errorf("json:\n%s\nwant\n%s", b, want)
	}
	var out strings.Builder
	if err := writeCSV(&out, slices.Values([]record{r}), nil); err != nil {
		t.Fatal(err)
	}
	csv := out.String()
	wantCSV := "\uFEFFa,b,c,d,e,f,g.x,g.y,h,i,j,k\n0.3,,0,1000000000000000000000,,true,1,\"s,t\",p;q,2024-05-01T00:00:00+08:00,,0.00000025\n"
	if csv != wantCSV {
		t.Errorf("csv:\n%q\nwant\n%q", csv, wantCSV)
	}
	out.Reset()
	_ = writeCSV(&out, nil, record{{"a", num(1)}, {"g", record{{"x", 1}}}})
	if got := out.String(); got != "\uFEFFa,g.x\n" {
		t.Errorf("empty csv = %q", got)
	}
}

func TestServerRun(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		_, _ = w.Write([]byte("done"))
	})
	s, err := Listen("127.0.0.1:0", h, ServerOptions{ShutdownTimeout: 5 * time.Second}, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(s.Addr().String(), h, ServerOptions{}, log); err == nil || !strings.HasPrefix(err.Error(), `listen "127.0.0.1:`) {
		t.Errorf("second listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + s.Addr().String() + "/")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	time.Sleep(100 * time.Millisecond) // the request is in flight
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Run returned before the in-flight request finished: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if g := <-got; g != "done" {
		t.Errorf("in-flight request got %q", g)
	}
}
