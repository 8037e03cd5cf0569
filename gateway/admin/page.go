package admin

import (
	_ "embed"
	"net/http"
)

// statusPage is the engineer's status page: one self-contained HTML document (inline CSS
// and JavaScript, no external assets) that polls /api/status every two seconds and
// renders it, in Chinese or English.
//
//go:embed status.html
var statusPage []byte

// pageCSP allows the page's inline style and script and requests to this server only,
// so the page works offline and cannot load anything from elsewhere.
const pageCSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; " +
	"connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func serveStatusPage(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(statusPage)
}
