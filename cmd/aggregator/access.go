package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/ganlink/ganlink/gateway/aggregator/access"
	"github.com/ganlink/ganlink/gateway/aggregator/api"
	"github.com/ganlink/ganlink/gateway/aggregator/registry"
	"github.com/ganlink/ganlink/internal/atomicfile"
)

// initSecrets makes everything a stack needs at its first start, and keeps it on later
// starts: the TSDB readers (tsdbAccess), province.password (the province reader's
// password alone, for Grafana's $__file{} provisioning), and a province API token:
// api-token (the token) and tokens.yaml (its hash, the aggregator's tokens_file).
func initSecrets(args []string, stdout, stderr io.Writer) int {
	if code := tsdbAccessIn("aggregator init-secrets", args, stdout, stderr); code != 0 {
		return code
	}
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := fs.String("dir", "", "")
	fs.String("registry", "", "")
	fs.String("backend", "", "")
	_ = fs.Parse(args)
	fail := func(err error) int {
		fmt.Fprintln(stderr, "aggregator init-secrets:", err)
		return 1
	}
	users, err := os.ReadFile(filepath.Join(*dir, "tsdb-users.txt"))
	if err != nil {
		return fail(err)
	}
	for _, line := range strings.Split(string(users), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == access.ProvinceUser {
			if err := atomicfile.Write(filepath.Join(*dir, "province.password"), []byte(f[1]), 0o600); err != nil {
				return fail(err)
			}
		}
	}
	tokPath := filepath.Join(*dir, "api-token")
	if _, err := os.Stat(tokPath); err == nil {
		fmt.Fprintf(stdout, "API token kept in %s\n", tokPath)
		return 0
	}
	tok, hash, err := api.NewToken()
	if err != nil {
		return fail(err)
	}
	entry := fmt.Sprintf("# The province's API token, made by aggregator init-secrets; the token is in api-token.\ntokens:\n  - name: province\n    sha256: %s\n    region: \"360000\"\n", hash)
	if err := atomicfile.Write(filepath.Join(*dir, "tokens.yaml"), []byte(entry), 0o600); err != nil {
		return fail(err)
	}
	if err := atomicfile.Write(tokPath, []byte(tok+"\n"), 0o600); err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "API token made: %s (tokens file %s)\n", tokPath, filepath.Join(*dir, "tokens.yaml"))
	return 0
}

// tsdbAccess writes the vmauth configuration of the registry's TSDB readers (gateway/
// aggregator/access) into a directory: tsdb-users.txt (the passwords, made at the first
// run and kept after), vmauth.yml and vmauth.key (the key of vmauth's own endpoints).
func tsdbAccess(args []string, stdout, stderr io.Writer) int {
	return tsdbAccessIn("aggregator tsdb-access", args, stdout, stderr)
}

// tsdbAccessIn is tsdbAccess with the command's name for its messages.
func tsdbAccessIn(name string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	regPath := fs.String("registry", "", "registry file (YAML)")
	backend := fs.String("backend", "", "VictoriaMetrics base URL the readers are routed to, e.g. http://127.0.0.1:8428")
	dir := fs.String("dir", "", "directory for tsdb-users.txt, vmauth.yml and vmauth.key (created 0700)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *regPath == "" || *dir == "" {
		fmt.Fprintln(stderr, name+": -registry and -dir are required")
		return 2
	}
	if u, err := url.Parse(*backend); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		fmt.Fprintf(stderr, "%s: -backend %q: want http(s)://host:port of VictoriaMetrics, without a query\n", name, *backend)
		return 2
	}
	reg, err := registry.Load(*regPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		fmt.Fprintln(stderr, name+":", err)
		return 1
	}
	users := access.Users(reg)
	pw, added, dropped, err := access.Credentials(filepath.Join(*dir, "tsdb-users.txt"), users)
	if err != nil {
		fmt.Fprintln(stderr, name+":", err)
		return 1
	}
	keyPath := filepath.Join(*dir, "vmauth.key")
	_, _, _, err = access.Credentials(keyPath, []access.User{{Name: "vmauth"}})
	if err != nil {
		fmt.Fprintln(stderr, name+":", err)
		return 1
	}
	cfg, err := access.Config(users, *backend, pw)
	if err == nil {
		err = atomicfile.Write(filepath.Join(*dir, "vmauth.yml"), cfg, 0o600)
	}
	if err != nil {
		fmt.Fprintln(stderr, name+":", err)
		return 1
	}
	fmt.Fprintf(stdout, "%d TSDB readers (%d added, %d dropped) in %s\n", len(users), len(added), len(dropped), *dir)
	if len(added) > 0 {
		fmt.Fprintf(stdout, "added: %s\n", strings.Join(added, " "))
	}
	if len(dropped) > 0 {
		fmt.Fprintf(stdout, "dropped: %s\n", strings.Join(dropped, " "))
	}
	fmt.Fprintf(stdout, "run: vmauth -auth.config=%s %s (KEY: the second word of the last line of %s)\n",
		filepath.Join(*dir, "vmauth.yml"), strings.Join(access.VMAuthFlags("KEY"), " "), keyPath)
	return 0
}
