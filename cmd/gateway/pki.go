package main

import (
	"flag"
	"fmt"
	"github.com/ganlink/ganlink/gateway/app"
	"io"
	"time"

	"github.com/ganlink/ganlink/adapters/opcua/pki"
	"github.com/ganlink/ganlink/gateway/config"
)

const pkiUsage = `usage: gateway pki [-config FILE | -dir DIR] COMMAND

Manages the OPC UA certificates of the gateway (docs/security.md):
  list                 the gateway's certificate, the trusted and the rejected server certificates
  trust FILE           trust a server certificate: a file in rejected/ is moved to trusted/,
                       any other DER or PEM file is copied there
  untrust THUMBPRINT   move a trusted certificate back to rejected/
  init                 generate the gateway's application instance certificate now (it is
                       otherwise generated at the first start) and print where it is, to give
                       it to the OPC UA servers

A running gateway reads trusted/ at every connection attempt: no restart is needed.`

// pkiCmd implements `gateway pki`.
func pkiCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gateway pki", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "gateway configuration file: its pki.dir and pki.application_uri")
	dir := fs.String("dir", "", "PKI directory (default "+config.DefaultPKIDir+")")
	fs.Usage = func() {
		fmt.Fprintln(stderr, pkiUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	if *cfgPath != "" && *dir != "" {
		fmt.Fprintln(stderr, "gateway pki: set -config or -dir, not both")
		return 2
	}
	store := &pki.Store{Dir: config.DefaultPKIDir}
	own := pki.OwnOptions{}
	if *dir != "" {
		store.Dir = *dir
	}
	if *cfgPath != "" {
		cfg, err := app.LoadConfig(*cfgPath)
		if err != nil {
			fmt.Fprintf(stderr, "gateway pki: %v\n", err)
			return 1
		}
		store.Dir = cfg.PKI.Dir
		own = pki.OwnOptions{ApplicationURI: cfg.PKI.ApplicationURI, CommonName: "Ganlink gateway " + cfg.Workshop.ID,
			KeyBits: cfg.PKI.KeyBits}
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	want := map[string]int{"list": 0, "trust": 1, "untrust": 1, "init": 0}
	n, ok := want[cmd]
	if !ok {
		fmt.Fprintf(stderr, "gateway pki: unknown command %q: want list, trust, untrust or init\n", cmd)
		return 2
	}
	if len(rest) != n {
		fmt.Fprintf(stderr, "gateway pki %s: want %d argument(s), got %d\n", cmd, n, len(rest))
		return 2
	}
	switch cmd {
	case "list":
		return pkiList(store, stdout, stderr)
	case "trust":
		p, err := store.Trust(rest[0])
		if err != nil {
			fmt.Fprintf(stderr, "gateway %v\n", err)
			return 1
		}
		c, _ := pki.ReadCertificate(p)
		in := pki.Describe(c)
		fmt.Fprintf(stdout, "trusted %s\n  subject %s\n  application URI %s\n  thumbprint %s\n", p, in.Subject, in.ApplicationURI, in.Thumbprint)
		return 0
	case "untrust":
		p, err := store.Untrust(rest[0])
		if err != nil {
			fmt.Fprintf(stderr, "gateway %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "moved to %s\n", p)
		return 0
	default: // init
		if own.ApplicationURI == "" && !store.HasOwn() {
			fmt.Fprintln(stderr, "gateway pki init: needs -config FILE: the certificate carries the configured application URI")
			return 2
		}
		o, err := store.LoadOrCreate(own)
		if err != nil {
			fmt.Fprintf(stderr, "gateway %v\n", err)
			return 1
		}
		verb := "existing"
		if o.Created {
			verb = "generated"
		}
		fmt.Fprintf(stdout, "%s application instance certificate %s\n", verb, o.Path)
		printInfo(stdout, pki.Describe(o.Cert))
		return 0
	}
}

func pkiList(store *pki.Store, stdout, stderr io.Writer) int {
	fmt.Fprintf(stdout, "PKI directory %s\n\nown (the gateway's application instance certificate):\n", store.Dir)
	if store.HasOwn() {
		p := store.OwnCertPath()
		c, err := pki.ReadCertificate(p)
		if err != nil {
			fmt.Fprintf(stdout, "  %v\n", err)
		} else {
			fmt.Fprintf(stdout, "  %s\n", p)
			printInfo(stdout, pki.Describe(c))
		}
	} else {
		fmt.Fprintln(stdout, "  none yet: generated at the first start, or with `gateway pki -config FILE init`")
	}
	for _, d := range []string{pki.TrustedDir, pki.RejectedDir} {
		infos, bad, err := store.List(d)
		if err != nil {
			fmt.Fprintf(stderr, "gateway %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "\n%s (%d):\n", d, len(infos))
		for _, in := range infos {
			fmt.Fprintf(stdout, "  %s\n", in.Path)
			printInfo(stdout, in)
		}
		for _, b := range bad {
			fmt.Fprintf(stdout, "  not a certificate: %s\n", b)
		}
	}
	return 0
}

func printInfo(w io.Writer, in pki.Info) {
	fmt.Fprintf(w, "    subject         %s\n", in.Subject)
	if in.ApplicationURI != "" {
		fmt.Fprintf(w, "    application URI %s\n", in.ApplicationURI)
	}
	fmt.Fprintf(w, "    thumbprint      %s\n", in.Thumbprint)
	fmt.Fprintf(w, "    valid           %s to %s\n", in.NotBefore.UTC().Format(time.DateOnly), in.NotAfter.UTC().Format(time.DateOnly))
	if in.IsCA {
		fmt.Fprintln(w, "    CA              yes: trusts every certificate it issued")
	}
}
