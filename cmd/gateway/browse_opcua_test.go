package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// withoutNotices drops from stderr the notices browse prints besides its errors (a
// certificate generated, the PKI directory created).
func withoutNotices(s string) string {
	var keep []string
	for _, l := range strings.SplitAfter(s, "\n") {
		if !strings.HasPrefix(l, "generated the application instance certificate ") &&
			!strings.HasPrefix(l, "gateway browse: created the PKI directory ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "")
}

// TestBrowseServerObject: the Server object (i=2253) and its subtree are left out of
// the tree, with a notice on stderr, unless -all is given; starting at it shows it.
func TestBrowseServerObject(t *testing.T) {
	ep := serveDevsim(t)
	const notice = "the Server object (i=2253: server status, capabilities, diagnostics) is left out; -all shows it\n"
	for _, c := range []struct {
		name      string
		args      []string
		server    bool // the tree shows the Server object
		stderr    string
		wantLines int // lines of the tree, 0 to skip
	}{
		{"default", []string{"-depth", "1"}, false, notice, 5},
		{"-all", []string{"-depth", "1", "-all"}, true, "", 6},
		{"start at the Server object", []string{"-depth", "1", "-start", "i=2253"}, true, "", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(append([]string{"browse", ep, "-security-policy", "None"}, c.args...), &out, &errb); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			server := regexp.MustCompile(`(?m)^(├─ |└─ )?Server +Object +i=2253$`).MatchString(out.String())
			if server != c.server || errb.String() != c.stderr {
				t.Fatalf("Server object shown %v, want %v; stderr %q, want %q\n%s", server, c.server, errb.String(), c.stderr, out.String())
			}
			if n := strings.Count(out.String(), "\n"); c.wantLines > 0 && n != c.wantLines {
				t.Fatalf("%d lines, want %d:\n%s", n, c.wantLines, out.String())
			}
		})
	}
	// Deeper, the Server object's subtree is most of the output when shown.
	var all, def, errb bytes.Buffer
	if run([]string{"browse", ep, "-security-policy", "None", "-depth", "3", "-all"}, &all, &errb) != 0 ||
		run([]string{"browse", ep, "-security-policy", "None", "-depth", "3"}, &def, &errb) != 0 {
		t.Fatal(errb.String())
	}
	t.Logf("depth 3: %d lines with -all, %d without", strings.Count(all.String(), "\n"), strings.Count(def.String(), "\n"))
	if strings.Contains(def.String(), "ServerStatus") || !strings.Contains(all.String(), "ServerStatus") {
		t.Fatalf("ServerStatus shown without -all or hidden with it")
	}
}

// TestBrowseSecurityPolicySpelling: the connection error on a server without security
// names the configuration key security_policy; browse takes that spelling as a flag
// too, and says which flags choose the endpoint. A PKI directory browse creates is
// named on stderr with its absolute path.
func TestBrowseSecurityPolicySpelling(t *testing.T) {
	ep := serveDevsim(t)
	dir := t.TempDir()
	t.Chdir(dir)
	var out, errb bytes.Buffer
	code := run([]string{"browse", ep, "-depth", "0", "-pki", "pki"}, &out, &errb)
	lines := strings.Split(strings.TrimSuffix(errb.String(), "\n"), "\n")
	want := []string{
		`^generated the application instance certificate pki/own/cert\.der \(thumbprint [0-9A-F]{40}\): the server must trust it$`,
		`^gateway browse: created the PKI directory ` + regexp.QuoteMeta(filepath.Join(dir, "pki")) + ` \(its certificate is the one servers must trust; -pki chooses another, e\.g\. the gateway's pki\.dir\)$`,
		`^gateway browse: select endpoint of "` + regexp.QuoteMeta(ep) + `": no endpoint fits security_policy "auto", .*or set security_policy: None to connect without \(docs/security\.md\)$`,
		`^gateway browse: choose the endpoint with -security-policy and -security-mode \(or -security_policy, -security_mode\), e\.g\. -security-policy None$`,
	}
	if code != 1 || len(lines) != len(want) {
		t.Fatalf("exit %d, stderr:\n%s", code, errb.String())
	}
	for i, w := range want {
		if !regexp.MustCompile(w).MatchString(lines[i]) {
			t.Fatalf("stderr line %d:\n%s\nwant match for\n%s", i+1, lines[i], w)
		}
	}
	// Existing now, the directory is not announced again.
	errb.Reset()
	out.Reset()
	if code := run([]string{"browse", ep, "-depth", "0", "-pki", "pki", "-security_policy", "None"}, &out, &errb); code != 0 || errb.Len() != 0 {
		t.Fatalf("-security_policy None: exit %d, stderr %q", code, errb.String())
	}
	if !strings.Contains(out.String(), "Objects") {
		t.Fatalf("output:\n%s", out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "pki", "own", "cert.der")); err != nil {
		t.Fatal(err)
	}
}
