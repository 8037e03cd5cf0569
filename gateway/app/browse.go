package app

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/ganlink/ganlink/adapters/opcua"
	"github.com/ganlink/ganlink/adapters/opcua/pki"
)

// BrowseOptions configures Browse. Zero values mean the defaults of `gateway browse`.
type BrowseOptions struct {
	// Endpoint is the OPC UA server URL, opc.tcp://host:port[/path].
	Endpoint string
	// SecurityPolicy and SecurityMode are as in the configuration; Username and Password
	// select user-name login, UserCertFile and UserKeyFile X.509 user login.
	SecurityPolicy, SecurityMode string
	Username, Password           string
	UserCertFile, UserKeyFile    string
	// PKIDir is the PKI directory (the gateway's pki.dir, so that servers see the same
	// certificate); ApplicationURI the URI of a certificate generated there (default:
	// the existing certificate's, else urn:ganlink:gateway:browse).
	PKIDir, ApplicationURI string
	// Notices receives what the engineer must act on besides the output (a certificate
	// generated for the server to trust); nil discards it.
	Notices io.Writer
	// ConnectTimeout bounds the connection and each call; default 10s.
	ConnectTimeout time.Duration
	// Start is the node id to browse from; default the Objects folder (i=85).
	Start string
	// Depth is how many levels below Start to browse; 0 is Start alone.
	Depth int
	// Match is a glob on browse names; the output keeps the matching nodes, their
	// ancestors and their descendants.
	Match string
	// MaxNodes stops the browse after this many nodes; default 5000.
	MaxNodes int
	// EmitConfig writes device YAML for the configuration instead of the tree,
	// recognising OPC 40501 MachineTool and OPC 40001-1 machine objects and their
	// standard signals, each with its KPI role (docs/commissioning.md).
	EmitConfig bool
	// Source names the OPC UA source in the emitted YAML; default "opcua".
	Source string
	// All keeps the Server object (ns=0 i=2253) and its subtree, left out by default
	// (a notice says so).
	All bool
}

// Browse connects to an OPC UA server, browses its address space and writes the tree
// (or, with EmitConfig, device YAML) to w.
func Browse(ctx context.Context, o BrowseOptions, w io.Writer) error {
	bo := opcua.BrowseOptions{
		Endpoint: o.Endpoint, SecurityPolicy: o.SecurityPolicy, SecurityMode: o.SecurityMode,
		Username: o.Username, Password: o.Password, ConnectTimeout: o.ConnectTimeout,
		Start: o.Start, Depth: o.Depth, Match: o.Match, MaxNodes: o.MaxNodes, Machines: o.EmitConfig,
		All: o.All,
	}
	if o.UserCertFile != "" || o.UserKeyFile != "" {
		var err error
		if bo.UserCertificate, bo.UserKey, err = opcua.LoadUserCertificate(o.UserCertFile, o.UserKeyFile); err != nil {
			return err
		}
	}
	if o.SecurityPolicy != "None" || o.Username != "" || bo.UserCertificate != nil {
		bo.PKI = &pki.Store{Dir: o.PKIDir}
		uri := o.ApplicationURI
		if uri == "" && !bo.PKI.HasOwn() {
			uri = "urn:ganlink:gateway:browse"
		}
		var err error
		if bo.Own, err = bo.PKI.LoadOrCreate(pki.OwnOptions{ApplicationURI: uri}); err != nil {
			return err
		}
		if bo.Own.Created && o.Notices != nil {
			fmt.Fprintf(o.Notices, "generated the application instance certificate %s (thumbprint %s): the server must trust it\n",
				bo.Own.Path, pki.Thumbprint(bo.Own.DER))
		}
	}
	res, err := opcua.Browse(ctx, bo)
	if err != nil {
		return err
	}
	if res.ServerHidden && o.Notices != nil {
		fmt.Fprintln(o.Notices, "the Server object (i=2253: server status, capabilities, diagnostics) is left out; -all shows it")
	}
	if !o.EmitConfig {
		return res.WriteTree(w)
	}
	source := o.Source
	if source == "" {
		source = "opcua"
	}
	return res.WriteConfig(w, source)
}
