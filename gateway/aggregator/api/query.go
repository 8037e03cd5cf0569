package api

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/ganlink/ganlink/gateway/aggregator/service"
)

// parseQuery is the one parser of the API's query parameters. Every parameter must be
// in allowed and appear at most once: "?region=1&region=2" is refused rather than
// answered for one of the two. Empty pairs ("a=1&&b=2") are skipped; a parameter
// given without "=" has the empty value, which handlers treat as absent. Errors name
// the parameter (clipped) and are reported as 400.
func parseQuery(raw string, allowed map[string]bool) (map[string]string, error) {
	q := map[string]string{}
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		if strings.Contains(pair, ";") {
			return nil, fmt.Errorf("invalid query: %q contains a semicolon (separate parameters with &)", clip(pair))
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("invalid query: bad escape in parameter name %q", clip(k))
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("invalid query: bad escape in the value of %q", clip(key))
		}
		if !allowed[key] {
			return nil, fmt.Errorf("unknown parameter %q", clip(key))
		}
		if _, dup := q[key]; dup {
			return nil, fmt.Errorf("duplicate parameter %q: give it once", key)
		}
		q[key] = val
	}
	return q, nil
}

// clip shortens a client-supplied value for an error message (service.Clip).
func clip(s string) string { return service.Clip(s) }
