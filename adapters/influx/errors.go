package influx

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ganlink/ganlink/gateway/point"
)

// ErrPermanent is wrapped by write errors that must not be retried: the server rejected
// the request itself (HTTP 4xx other than 408 and 429), so sending the same block again
// cannot succeed. The caller drops the block and counts it.
var ErrPermanent = errors.New("permanent write error")

// RetryAfterError is implemented by retryable write errors for which the server sent a
// Retry-After header (typically 429 and 503). RetryAfter is positive.
type RetryAfterError interface {
	RetryAfter() time.Duration
}

// StatusError is a write rejected with an HTTP status other than 2xx. It is always
// wrapped in an error naming the sink, and additionally wraps ErrPermanent for 4xx
// statuses other than 408 and 429.
type StatusError struct {
	// StatusCode is the HTTP status code.
	StatusCode int
	// Message is the server's explanation: the "message" or "error" member of a JSON
	// body, else the body text, else the X-Influxdb-Error header, else the status text.
	// Whitespace runs are collapsed, the token is removed, and it is cut to at most
	// MaxMessageBytes bytes.
	Message string
}

// MaxMessageBytes bounds StatusError.Message.
const MaxMessageBytes = 512

// Error returns "status 400: <message>".
func (e *StatusError) Error() string {
	return "status " + strconv.Itoa(e.StatusCode) + ": " + e.Message
}

// retryAfterError adds a server's Retry-After to a retryable error.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string {
	return e.err.Error() + " (retry after " + e.after.String() + ")"
}

func (e *retryAfterError) Unwrap() error             { return e.err }
func (e *retryAfterError) RetryAfter() time.Duration { return e.after }

// redactedError replaces the text of an error that contained a secret or noise.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

var errClosed = errors.New("sink closed")

// permanentStatus reports whether a non-2xx status means the request itself is wrong.
// 408 (a proxy or server gave up waiting for the request) and 429 (rate limited) are
// transient although they are 4xx.
func permanentStatus(code int) bool {
	return code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests
}

// maxErrorBody bounds how much of an error response is read for its message; the rest
// is drained up to the same amount again so the connection can be reused.
const maxErrorBody = 64 << 10

// statusError reads the message of a non-2xx response. It does not close the body.
func statusError(resp *http.Response, secrets []string) *StatusError {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	msg := ""
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct == "application/json" {
		var j struct {
			Message string `json:"message"` // InfluxDB 2.x
			Error   string `json:"error"`   // InfluxDB 1.x
		}
		if json.Unmarshal(body, &j) == nil {
			msg = j.Message
			if msg == "" {
				msg = j.Error
			}
		}
	}
	if msg == "" {
		msg = cleanMessage(string(body), secrets)
	} else {
		msg = cleanMessage(msg, secrets)
	}
	if msg == "" {
		msg = cleanMessage(resp.Header.Get("X-Influxdb-Error"), secrets)
	}
	if msg == "" {
		msg = strings.ToLower(http.StatusText(resp.StatusCode))
	}
	return &StatusError{StatusCode: resp.StatusCode, Message: msg}
}

// cleanMessage removes secrets, turns control characters and whitespace runs into one
// space, trims, and cuts s to MaxMessageBytes bytes at a character boundary.
func cleanMessage(s string, secrets []string) string {
	s = redact(s, secrets)
	var b strings.Builder
	b.Grow(min(len(s), MaxMessageBytes+8))
	space := false
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == ' ' || r == '\u0085' || r == '\u00a0' {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
		if b.Len() > MaxMessageBytes {
			break
		}
	}
	return truncate(b.String(), MaxMessageBytes)
}

// truncate cuts s to at most n bytes, ending with "…" when it cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return point.Truncate(s, n-len("…"))
}

// redact replaces every secret in s.
func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" && strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, "xxxxx")
		}
	}
	return s
}

// secretsOf lists the strings to remove from messages for a token: the password of a
// "user:password" token (the user name is no secret and helps diagnose), else the
// whole token.
func secretsOf(token string) []string {
	if token == "" {
		return nil
	}
	if _, pass, ok := strings.Cut(token, ":"); ok && len(pass) >= 4 {
		return []string{pass}
	}
	return []string{token}
}

// retryAfter parses a Retry-After header: delay seconds or an HTTP date. It reports
// false for a missing, malformed, zero or past value.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(secs) * time.Second, secs > 0
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now).Round(time.Second)
		return d, d > 0
	}
	return 0, false
}

// wrapClean returns `<verb> sink "<name>": <err>` wrapping err. If err's text contains
// a secret, control characters or more than MaxMessageBytes bytes, the returned text is
// cleaned like a server message while errors.Is and errors.As still see err.
func wrapClean(verb, name string, err error, secrets []string) error {
	msg := err.Error()
	if clean := cleanMessage(msg, secrets); clean != msg {
		return &redactedError{msg: verb + " sink " + strconv.Quote(name) + ": " + clean, err: err}
	}
	return fmt.Errorf("%s sink %q: %w", verb, name, err)
}
