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
	"github.com/ganlink/ganlink/gateway/aggregator/registry"
	"github.com/ganlink/ganlink/internal/atomicfile"
)

// tsdbAccess writes the vmauth configuration of the registry's TSDB readers (gateway/
// aggregator/access) into a directory: tsdb-users.txt (the passwords, made at the first
// run and kept after), vmauth.yml and vmauth.key (the key of vmauth's own endpoints).
func tsdbAccess(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("aggregator tsdb-access", flag.ContinueOnError)
	fs.SetOutput(stderr)
	regPath := fs.String("registry", "", "registry file (YAML)")
	backend := fs.String("backend", "", "VictoriaMetrics base URL the readers are routed to, e.g. http://127.0.0.1:8428")
	dir := fs.String("dir", "", "directory for tsdb-users.txt, vmauth.yml and vmauth.key (created 0700)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *regPath == "" || *dir == "" {
		fmt.Fprintln(stderr, "aggregator tsdb-access: -registry and -dir are required")
		return 2
	}
	if u, err := url.Parse(*backend); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		fmt.Fprintf(stderr, "aggregator tsdb-access: -backend %q: want http(s)://host:port of VictoriaMetrics, without a query\n", *backend)
		return 2
	}
	reg, err := registry.Load(*regPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		fmt.Fprintln(stderr, "aggregator tsdb-access:", err)
		return 1
	}
	users := access.Users(reg)
	pw, added, dropped, err := access.Credentials(filepath.Join(*dir, "tsdb-users.txt"), users)
	if err != nil {
		fmt.Fprintln(stderr, "aggregator tsdb-access:", err)
		return 1
	}
	keyPath := filepath.Join(*dir, "vmauth.key")
	_, _, _, err = access.Credentials(keyPath, []access.User{{Name: "vmauth"}})
	if err != nil {
		fmt.Fprintln(stderr, "aggregator tsdb-access:", err)
		return 1
	}
	cfg, err := access.Config(users, *backend, pw)
	if err == nil {
		err = atomicfile.Write(filepath.Join(*dir, "vmauth.yml"), cfg, 0o600)
	}
	if err != nil {
		fmt.Fprintln(stderr, "aggregator tsdb-access:", err)
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
