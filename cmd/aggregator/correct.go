package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/ganlink/ganlink/gateway/aggregator"
	"github.com/ganlink/ganlink/gateway/aggregator/api"
	"github.com/ganlink/ganlink/gateway/aggregator/corrections"
)

// correct records, revokes and lists central corrections in the configuration's
// corrections store (data_dir/corrections.jsonl). A running aggregator sees the change
// at its next request or write-back round (it checks the file's size and time).
func correct(args []string, now time.Time, stdout, stderr io.Writer) int {
	usage := "usage: aggregator correct add -config FILE -workshop ID [-device ID] -from TIME -until TIME -by NAME -reason TEXT\n" +
		"       aggregator correct revoke -config FILE -id ID -by NAME -reason TEXT\n" +
		"       aggregator correct list -config FILE [-workshop ID]"
	if len(args) == 0 || (args[0] != "add" && args[0] != "revoke" && args[0] != "list") {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	op := args[0]
	fs := flag.NewFlagSet("aggregator correct "+op, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "aggregator configuration file (YAML)")
	workshop := fs.String("workshop", "", "workshop id (registry)")
	device := fs.String("device", "", "device id (optional; empty: the whole workshop)")
	from := fs.String("from", "", "start of the span: 2006-01-02, 2006-01-02T15:04 (the configuration's timezone) or RFC 3339")
	until := fs.String("until", "", "end of the span (exclusive), same formats")
	by := fs.String("by", "", "who records it (name)")
	reason := fs.String("reason", "", "why (at most 200 characters)")
	id := fs.String("id", "", "the correction's id (revoke)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *cfgPath == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	cfg, err := aggregator.LoadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	store := corrections.NewStore(cfg.CorrectionsPath())
	fail := func(err error) int {
		fmt.Fprintf(stderr, "aggregator correct %s: %v\n", op, err)
		return 1
	}
	switch op {
	case "add":
		reg, err := cfg.LoadRegistry()
		if err != nil {
			return fail(err)
		}
		if err := corrections.CheckName("workshop", *workshop, true); err != nil {
			return fail(err)
		}
		if _, err := api.CheckWorkshop(reg, *workshop); err != nil {
			return fail(err)
		}
		f, u, err := api.ParseSpan(*from, *until, loc)
		if err != nil {
			return fail(err)
		}
		c, err := store.Add(corrections.Correction{Workshop: *workshop, Device: *device, From: f, Until: u, By: *by, Reason: *reason}, now)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "recorded %s: workshop %s%s from %s until %s (in %s)\n", c.ID, c.Workshop, deviceText(c.Device),
			c.From.In(loc).Format(time.RFC3339), c.Until.In(loc).Format(time.RFC3339), store.Path())
	case "revoke":
		c, err := store.Revoke(*id, *by, *reason, now, nil)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "revoked %s: workshop %s%s from %s until %s\n", c.ID, c.Workshop, deviceText(c.Device),
			c.From.In(loc).Format(time.RFC3339), c.Until.In(loc).Format(time.RFC3339))
	case "list":
		st, _, err := store.Current()
		if err != nil {
			return fail(err)
		}
		if st.Warning != "" {
			fmt.Fprintln(stderr, "warning:", st.Warning)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATE\tWORKSHOP\tDEVICE\tFROM\tUNTIL\tBY\tRECORDED\tREASON")
		for _, c := range st.List {
			if *workshop != "" && c.Workshop != *workshop {
				continue
			}
			state := "in force"
			if c.Revoked {
				state = fmt.Sprintf("revoked %s by %s: %s", c.RevokedAt.In(loc).Format(time.RFC3339), c.RevokedBy, c.RevokedReason)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, state, c.Workshop, dash(c.Device),
				c.From.In(loc).Format(time.RFC3339), c.Until.In(loc).Format(time.RFC3339), c.By,
				c.Recorded.In(loc).Format(time.RFC3339), c.Reason)
		}
		if err := tw.Flush(); err != nil {
			return fail(errors.New("write the list"))
		}
	}
	return 0
}

func deviceText(d string) string {
	if d == "" {
		return " (whole workshop)"
	}
	return " device " + d
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
