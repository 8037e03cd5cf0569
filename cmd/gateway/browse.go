package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ganlink/ganlink/adapters/opcua"
	"github.com/ganlink/ganlink/gateway/app"
	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/internal/fsread"
)

const browseUsage = `usage: gateway browse ENDPOINT [flags]

Prints an OPC UA server's address space as a tree: browse name, node class, data type,
access level, current value and node id (namespace as URI). With -emit-config it prints
device YAML for the configuration instead: OPC 40501 machine tools and OPC 40001-1
machines with their standard signals by browse path, each with its KPI role, other
numeric variables by node id.

On a serial:// or tcp:// endpoint it scans a Modbus bus instead: gateway browse
serial:///dev/ttyUSB0 -h; with -protocol dlt645 it finds the DL/T 645-2007 meters there:
gateway browse -protocol dlt645 serial:///dev/ttyUSB0 -h.`

// browseCmd implements `gateway browse ENDPOINT [flags]`.
func browseCmd(args []string, stdout, stderr io.Writer) int {
	if wantsDLT645(args) {
		return browseDLT645(args, stdout, stderr)
	}
	if isModbusBrowse(args) {
		return browseModbusCmd(args, stdout, stderr)
	}
	fs := flag.NewFlagSet("gateway browse", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o app.BrowseOptions
	fs.StringVar(&o.Start, "start", "i=85", "node id to browse from (default the Objects folder)")
	fs.IntVar(&o.Depth, "depth", 3, "levels below -start to browse")
	fs.StringVar(&o.Match, "match", "", "glob on browse names, e.g. 'Spindle*': keep matching nodes, their ancestors and descendants")
	fs.BoolVar(&o.EmitConfig, "emit-config", false, "print device YAML for the selected variables instead of the tree")
	fs.StringVar(&o.Source, "source", "opcua", "name of the OPC UA source in the emitted YAML")
	fs.StringVar(&o.SecurityPolicy, "security-policy", "auto", "auto (the strongest the server offers), Aes256_Sha256_RsaPss, Basic256Sha256, Aes128_Sha256_RsaOaep or None")
	fs.StringVar(&o.SecurityMode, "security-mode", "", "auto, Sign or SignAndEncrypt; None with -security-policy None (default)")
	// The configuration's spellings, which the connection errors name, work too.
	fs.StringVar(&o.SecurityPolicy, "security_policy", "auto", "the same as -security-policy")
	fs.StringVar(&o.SecurityMode, "security_mode", "", "the same as -security-mode")
	fs.BoolVar(&o.All, "all", false, "show the Server object (i=2253) and its subtree, left out by default")
	fs.StringVar(&o.PKIDir, "pki", config.DefaultPKIDir, "PKI directory: use the gateway's pki.dir, whose certificate the server trusts")
	fs.StringVar(&o.ApplicationURI, "application-uri", "", "application URI of a certificate generated in -pki (default: the existing one's, else urn:ganlink:gateway:browse)")
	fs.StringVar(&o.Username, "username", "", "user name; anonymous if empty")
	fs.StringVar(&o.UserCertFile, "user-cert", "", "X.509 user certificate file (PEM or DER) for certificate login")
	fs.StringVar(&o.UserKeyFile, "user-key", "", "private key of -user-cert (PEM)")
	passwordFile := fs.String("password-file", "", "file holding the password of -username")
	fs.DurationVar(&o.ConnectTimeout, "timeout", 10*time.Second, "bound on the connection and each request")
	fs.IntVar(&o.MaxNodes, "max-nodes", 5000, "stop after this many nodes")
	fs.Usage = func() {
		fmt.Fprintln(stderr, browseUsage)
		fs.PrintDefaults()
	}
	// The endpoint may come before or after the flags.
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		o.Endpoint = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return 2
		}
	}
	switch {
	case o.Endpoint == "":
		fs.Usage()
		return 2
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "gateway browse: unexpected argument %q\n", fs.Arg(0))
		return 2
	case o.Depth < 0:
		fmt.Fprintf(stderr, "gateway browse: invalid -depth %d: want 0 or more\n", o.Depth)
		return 2
	case *passwordFile != "" && o.Username == "":
		fmt.Fprintln(stderr, "gateway browse: -password-file needs -username")
		return 2
	}
	if *passwordFile != "" {
		b, err := fsread.ReadRegular(*passwordFile, fsread.MaxSecret)
		if err != nil {
			fmt.Fprintf(stderr, "gateway browse: read password file: %v\n", err)
			return 2
		}
		o.Password = strings.TrimRight(string(b), "\r\n")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o.Notices = stderr
	// Browse creates the PKI directory when it needs a certificate and has none: say
	// where, since the default is relative to the current directory.
	_, before := os.Stat(o.PKIDir)
	err := app.Browse(ctx, o, stdout)
	if _, after := os.Stat(o.PKIDir); os.IsNotExist(before) && after == nil {
		dir, _ := filepath.Abs(o.PKIDir)
		fmt.Fprintf(stderr, "gateway browse: created the PKI directory %s (its certificate is the one servers must trust; -pki chooses another, e.g. the gateway's pki.dir)\n", dir)
	}
	if err != nil {
		fmt.Fprintln(stderr, "gateway browse:", err)
		if errors.Is(err, opcua.ErrNoEndpoint) {
			fmt.Fprintln(stderr, "gateway browse: choose the endpoint with -security-policy and -security-mode (or -security_policy, -security_mode), e.g. -security-policy None")
		}
		return 1
	}
	return 0
}
