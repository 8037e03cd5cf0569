package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/ganlink/ganlink/gateway/admin"
	"github.com/ganlink/ganlink/gateway/app"
	"github.com/ganlink/ganlink/gateway/config"
	"github.com/ganlink/ganlink/gateway/corrections"
	"github.com/ganlink/ganlink/gateway/schema"
)

const correctUsage = `usage: gateway correct add -config FILE -kind invalid -from TIME -until TIME [-device ID] -reason TEXT [-by NAME]
       gateway correct add -config FILE -kind replacement -device ID -signal COUNTER -at TIME -reason TEXT [-by NAME]
       gateway correct revoke -config FILE -id ID -reason TEXT [-by NAME]
       gateway correct list -config FILE [-json]

Records corrections with an audit trail (docs/corrections.md): a span of a device or of
the whole workshop (no -device) marked invalid, or a counter replaced at a time. Nothing
already written is edited: the gateway writes a kpi_correction point that the aggregator
reads, and applies a replacement to its counter model. TIME is RFC 3339
(2026-12-07T08:00:00+08:00) or a local time in the workshop's time zone
(2026-12-07 08:00:00).

When the gateway runs, the command goes through its admin API (admin.listen of the
configuration, with its credentials; the recorder is the authenticated user, or -by
with a token); when it does not, the command writes the store in the data directory and
the gateway applies it at its next start. -by defaults to the login name.`

// correctCmd implements `gateway correct`.
func correctCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "add" && args[0] != "revoke" && args[0] != "list") {
		fmt.Fprintln(stderr, correctUsage)
		return 2
	}
	op := args[0]
	fs := flag.NewFlagSet("gateway correct "+op, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "gateway configuration file")
	kind := fs.String("kind", "", "add: invalid or replacement")
	device := fs.String("device", "", "add: the device (invalid: none for the whole workshop)")
	signal := fs.String("signal", "", "add replacement: the counter signal replaced")
	from := fs.String("from", "", "add invalid: start of the span")
	until := fs.String("until", "", "add invalid: end of the span (exclusive)")
	at := fs.String("at", "", "add replacement: time of the replacement")
	by := fs.String("by", "", "who records it (default the login name; with basic authentication the configured user)")
	reason := fs.String("reason", "", "why (at most 200 characters)")
	id := fs.String("id", "", "revoke: the correction's id")
	asJSON := fs.Bool("json", false, "list: print JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, correctUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *cfgPath == "" {
		fmt.Fprintln(stderr, correctUsage)
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "gateway correct %s: %v\n", op, err)
		return 1
	}
	cfg, err := app.LoadConfig(*cfgPath)
	if err != nil {
		printConfigErrors(stderr, *cfgPath, err)
		return 1
	}
	loc, err := time.LoadLocation(cfg.Workshop.Timezone)
	if err != nil {
		return fail(err)
	}
	var req corrections.Request
	if op == "add" {
		req = corrections.Request{Kind: *kind, Device: *device, Signal: *signal, Reason: *reason}
		for _, t := range []struct {
			name, v string
			dst     *time.Time
		}{{"from", *from, &req.From}, {"until", *until, &req.Until}, {"at", *at, &req.At}} {
			if t.v == "" {
				continue
			}
			if *t.dst, err = corrections.ParseTime(t.v, loc); err != nil {
				return fail(fmt.Errorf("-%s: %w", t.name, err))
			}
		}
	}
	c := &corrector{cfg: cfg, loc: loc, out: stdout, by: *by}
	api, err := c.findAPI()
	if err != nil {
		return fail(err)
	}
	if api != "" {
		err = c.viaAPI(api, op, req, *id, *reason, *asJSON)
	} else {
		err = c.direct(op, req, *id, *reason, *asJSON)
	}
	if err != nil {
		return fail(err)
	}
	return 0
}

type corrector struct {
	cfg *config.Config
	loc *time.Location
	out io.Writer
	by  string
}

// loginName is the default of -by.
func loginName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

// findAPI returns the base URL of the running gateway's admin API, or "" when nothing
// listens on the configuration's admin address (the gateway does not run).
func (c *corrector) findAPI() (string, error) {
	host, port, err := net.SplitHostPort(c.cfg.Admin.Listen)
	if err != nil || port == "0" {
		return "", nil // no fixed address to find a running gateway at; the store's lock still guards
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	addr := net.JoinHostPort(host, port)
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", nil
	}
	conn.Close()
	return "http://" + addr, nil
}

// viaAPI runs op through the running gateway's admin API.
func (c *corrector) viaAPI(base, op string, req corrections.Request, id, reason string, asJSON bool) error {
	var (
		method, path = http.MethodGet, "/api/corrections"
		body         any
	)
	a := &c.cfg.Admin
	switch op {
	case "add":
		method, body = http.MethodPost, &req
	case "revoke":
		method, path = http.MethodPost, "/api/corrections/"+url.PathEscape(id)+"/revoke"
		body = &struct {
			Reason string `json:"reason"`
			By     string `json:"by,omitempty"`
		}{Reason: reason}
	}
	by := c.by
	if by == "" && a.BasicAuth == nil {
		by = loginName()
	}
	if a.Token.Reveal() == "" && (a.BasicAuth == nil || c.by != "") {
		// Without authentication, or to be refused clearly when -by is not the
		// configured user, the body names who records it.
		switch b := body.(type) {
		case *corrections.Request:
			b.By = by
		case *struct {
			Reason string `json:"reason"`
			By     string `json:"by,omitempty"`
		}:
			b.By = by
		}
	}
	var rd io.Reader
	if body != nil {
		js, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(js)
	}
	hr, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return err
	}
	hr.Header.Set("Content-Type", "application/json")
	switch {
	case a.Token.Reveal() != "":
		hr.SetBasicAuth(by, a.Token.Reveal()) // the token as the password: the recorder is the user name
	case a.BasicAuth != nil:
		hr.SetBasicAuth(a.BasicAuth.Username, a.BasicAuth.Password.Reveal())
	}
	client := &http.Client{Timeout: 30 * time.Second}
	if _, _, ok := hr.BasicAuth(); ok && method != http.MethodGet {
		// Basic authentication, which a browser sends on its own, needs the user's CSRF
		// token on a state-changing request (docs/security.md).
		tok, err := csrfToken(client, base, hr.Header.Get("Authorization"))
		if err != nil {
			return err
		}
		hr.Header.Set(admin.CSRFHeader, tok)
	}
	resp, err := client.Do(hr)
	if err != nil {
		return fmt.Errorf("admin API %s: %w", base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("admin API %s: %w", base, err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("admin API %s: %s: %s", base, resp.Status, strings.TrimSpace(string(data)))
	}
	if op == "list" {
		var l struct {
			Corrections []corrections.Correction `json:"corrections"`
		}
		if err := json.Unmarshal(data, &l); err != nil {
			return fmt.Errorf("admin API %s: %w", base, err)
		}
		return c.list(l.Corrections, asJSON)
	}
	var res corrections.Result
	if err := json.Unmarshal(data, &res); err != nil {
		return fmt.Errorf("admin API %s: %w", base, err)
	}
	c.printResult(op, res, "")
	return nil
}

// direct runs op on the store while the gateway does not run.
func (c *corrector) direct(op string, req corrections.Request, id, reason string, asJSON bool) error {
	st, probs, err := app.OpenCorrections(c.cfg)
	if err != nil {
		if errors.Is(err, corrections.ErrLocked) {
			return fmt.Errorf("%w; its admin API at %q does not answer: fix admin.listen or retry", err, c.cfg.Admin.Listen)
		}
		return err
	}
	defer st.Close()
	for _, p := range probs {
		fmt.Fprintln(c.out, "warning:", p)
	}
	by := c.by
	if by == "" {
		by = loginName()
	}
	note := "the gateway is not running: written to " + st.Path() + ", applied when it starts"
	switch op {
	case "add":
		req.By = by
		cr, err := st.Add(req)
		if err != nil {
			return err
		}
		c.printResult(op, corrections.Result{Correction: cr}, note)
	case "revoke":
		cr, err := st.Revoke(id, by, reason)
		if err != nil {
			return err
		}
		cr, _ = st.Get(cr.ID)
		c.printResult(op, corrections.Result{Correction: cr}, note)
	default:
		return c.list(st.List(), asJSON)
	}
	return nil
}

// local formats t in the workshop's time zone, as the other commands print times.
func (c *corrector) local(t time.Time) string { return t.In(c.loc).Format(time.DateTime) }

// describe is one correction on one line.
func (c *corrector) describe(x corrections.Correction) string {
	where := "whole workshop"
	if x.Device != "" {
		where = "device " + x.Device
	}
	if x.Kind == schema.CorrectionReplacement {
		return fmt.Sprintf("%s  replacement  %s %s at %s (%s)  by %s: %q", x.ID, where, x.Signal, c.local(x.From), c.loc, x.By, x.Reason)
	}
	return fmt.Sprintf("%s  %s  %s %s to %s (%s)  by %s: %q", x.ID, x.Kind, where, c.local(x.From), c.local(x.Until), c.loc, x.By, x.Reason)
}

func (c *corrector) printResult(op string, res corrections.Result, note string) {
	verb := "recorded"
	if op == "revoke" {
		verb = "revoked"
	}
	fmt.Fprintf(c.out, "%s %s\n", verb, c.describe(res.Correction))
	if r := res.Correction.Revoked; r != nil {
		fmt.Fprintf(c.out, "  revoked at %s by %s: %q\n", c.local(r.Recorded), r.By, r.Reason)
	}
	if res.Effect != "" {
		fmt.Fprintf(c.out, "  counter model: %s\n", res.Effect)
	}
	switch {
	case note != "":
		fmt.Fprintf(c.out, "  %s\n", note)
	case !res.Queued:
		fmt.Fprintln(c.out, "  its kpi_correction point is not queued yet: the gateway writes it at its next start")
	}
}

func (c *corrector) list(l []corrections.Correction, asJSON bool) error {
	if asJSON {
		if l == nil {
			l = []corrections.Correction{}
		}
		enc := json.NewEncoder(c.out)
		enc.SetIndent("", "  ")
		return enc.Encode(l)
	}
	if len(l) == 0 {
		fmt.Fprintln(c.out, "no corrections")
		return nil
	}
	for _, x := range l {
		fmt.Fprintln(c.out, c.describe(x))
		if r := x.Revoked; r != nil {
			fmt.Fprintf(c.out, "  revoked at %s by %s: %q\n", c.local(r.Recorded), r.By, r.Reason)
		}
	}
	return nil
}

// csrfToken asks the admin API for the CSRF token of the credentials in authorization
// (GET /api/session).
func csrfToken(client *http.Client, base, authorization string) (string, error) {
	hr, err := http.NewRequest(http.MethodGet, base+"/api/session", nil)
	if err != nil {
		return "", err
	}
	hr.Header.Set("Authorization", authorization)
	resp, err := client.Do(hr)
	if err != nil {
		return "", fmt.Errorf("admin API %s: %w", base, err)
	}
	defer resp.Body.Close()
	var body struct {
		CSRFToken string `json:"csrf_token"`
		Error     string `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		if body.Error != "" {
			return "", fmt.Errorf("admin API %s: sign in: %s", base, body.Error)
		}
		return "", fmt.Errorf("admin API %s: sign in: %s", base, resp.Status)
	}
	return body.CSRFToken, nil
}
