package testsrv

import (
	"fmt"
	"net/url"
	"strings"
)

// StartInfluxAuth starts InfluxDB 1.8.10 like StartInflux but with authentication on:
// it creates the admin user (user, pass) and each database in dbs. Writes then need
// the token "user:pass"; the Exec and Query methods, which send no credentials, do not
// work on it.
func StartInfluxAuth(t TB, user, pass string, dbs ...string) *Influx {
	t.Helper()
	in := launchInflux(t, true)
	exec := func(q string, auth bool) {
		t.Helper()
		target := in.URL + "/query"
		if auth {
			target += "?" + url.Values{"u": {user}, "p": {pass}}.Encode()
		}
		body, code, err := httpDo("POST", target, "application/x-www-form-urlencoded", []byte(url.Values{"q": {q}}.Encode()))
		if err != nil || code != 200 || strings.Contains(string(body), `"error"`) {
			t.Fatalf("influx %s: code %d, %v: %s", q, code, err, body)
		}
	}
	// The first user may be created without credentials, and must be an admin.
	exec(fmt.Sprintf("CREATE USER %s WITH PASSWORD '%s' WITH ALL PRIVILEGES", quoteIdent(user), strings.ReplaceAll(pass, "'", `\'`)), false)
	for _, db := range dbs {
		exec("CREATE DATABASE "+quoteIdent(db), true)
	}
	return in
}
