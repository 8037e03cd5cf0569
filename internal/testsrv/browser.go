package testsrv

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/chromedp"
)

// Browser is one headless Chromium driven through the DevTools protocol (chromedp),
// with one tab whose viewport is a tablet's, 1024×768. A test starts one and runs
// every step in it; the browser is stopped in t.Cleanup.
//
// Every step waits for a DOM condition (Wait, WaitText), never for a fixed time, and
// fails the test after StepTimeout. Uncaught exceptions and console errors of the page
// (a Content-Security-Policy violation is one; an HTTP error status, which tests
// assert themselves, is not) are collected: Problems returns them.
//
// Screenshots: when the environment variable GANLINK_SCREENSHOTS names a directory,
// Screenshot writes NAME.png there; otherwise it does nothing, so a test run never
// rewrites the documentation's images unless asked to.
type Browser struct {
	t   TB
	ctx context.Context

	mu       sync.Mutex
	problems []string
}

// StepTimeout bounds each Browser step.
const StepTimeout = 60 * time.Second

// Viewport is the size of the browser's page: a tablet's.
const ViewportWidth, ViewportHeight = 1024, 768

// StartBrowser starts headless Chromium (the "chromium" binary scripts/install-deps.sh
// installs; a missing binary fails the test) with a fresh profile.
func StartBrowser(t TB) *Browser {
	t.Helper()
	path := lookBinary(t, "chromium", "chromium-browser", "google-chrome")
	opts := append(chromedp.DefaultExecAllocatorOptions[:0:0], chromedp.DefaultExecAllocatorOptions[:]...)
	opts = append(opts, chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")),
		chromedp.WindowSize(ViewportWidth, ViewportHeight),
		chromedp.Flag("lang", "zh-CN"), chromedp.Flag("disable-extensions", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &Browser{t: t, ctx: ctx}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first run starts the browser; it must use the context without a deadline.
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			// An HTTP error status of a request is logged as "Failed to load resource":
			// a test asserts the statuses it expects itself.
			if (m.IsException() || m.Type == chromedp.ConsoleError) && !strings.HasPrefix(m.Text, "Failed to load resource") {
				b.mu.Lock()
				b.problems = append(b.problems, m.String())
				b.mu.Unlock()
			}
		}
	}()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(ViewportWidth, ViewportHeight)); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	return b
}

// Do runs the steps, failing the test with what names the failed step.
func (b *Browser) Do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, StepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %s: %v%s", what, err, b.problemsNote())
	}
}

// Navigate loads url and waits for the element sel to be visible.
func (b *Browser) Navigate(url, sel string) {
	b.t.Helper()
	b.Do("load "+url, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(sel)))
}

// Click clicks the (first) element matching sel once it is visible.
func (b *Browser) Click(sel string) {
	b.t.Helper()
	b.Do("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// Type replaces the value of the input or textarea sel with text, as typed, and fires
// its input and change events.
func (b *Browser) Type(sel, text string) {
	b.t.Helper()
	b.Do("type into "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	Eval[bool](b, fmt.Sprintf(`(() => { const e = document.querySelector(%s); e.value = "";
		e.dispatchEvent(new Event("input", {bubbles: true})); return true; })()`, jsString(sel)))
	b.Do("type into "+sel, chromedp.SendKeys(chromedp.CSS(sel), text))
}

// Select chooses the option with value v of the select element sel.
func (b *Browser) Select(sel, v string) {
	b.t.Helper()
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%s); if (!e) return false;
		e.value = %s; e.dispatchEvent(new Event("change", {bubbles: true})); return e.value === %s; })()`,
		jsString(sel), jsString(v), jsString(v))
	if !Eval[bool](b, js) {
		b.t.Fatalf("browser: select %q in %s: no such element or option", v, sel)
	}
}

// Wait waits until the JavaScript expression is truthy (re-evaluated on every
// animation frame and DOM change).
// A page that navigates meanwhile (a reload) is waited for: the expression is
// evaluated again in the new document.
func (b *Browser) Wait(what, expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, StepTimeout)
	defer cancel()
	for {
		_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(StepTimeout)))
		if err == nil {
			return
		}
		if ctx.Err() != nil || !navigated(err) {
			b.t.Fatalf("browser: wait for %s: %v%s", what, err, b.problemsNote())
		}
	}
}

// navigated reports an error of an evaluation the page's navigation cut short.
func navigated(err error) bool {
	m := err.Error()
	return strings.Contains(m, "navigated or closed") || strings.Contains(m, "Execution context was destroyed") ||
		strings.Contains(m, "Cannot find context")
}

// WaitText waits until the text of the element sel contains want, and returns the
// whole text. On timeout the test fails with the text the element had.
func (b *Browser) WaitText(sel, want string) string {
	b.t.Helper()
	expr := fmt.Sprintf(`(() => { const e = document.querySelector(%s); return !!e && e.textContent.includes(%s); })()`,
		jsString(sel), jsString(want))
	ctx, cancel := context.WithTimeout(b.ctx, StepTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(StepTimeout))); err != nil {
		b.t.Fatalf("browser: wait for %q in %s: %v; it reads %q%s", want, sel, err, b.TextOf(sel), b.problemsNote())
	}
	return b.TextOf(sel)
}

// TextOf returns the text content of the element sel, whitespace collapsed; "" when
// there is none.
func (b *Browser) TextOf(sel string) string {
	b.t.Helper()
	return Eval[string](b, fmt.Sprintf(`(() => { const e = document.querySelector(%s);
		return e ? e.textContent.replace(/\s+/g, " ").trim() : ""; })()`, jsString(sel)))
}

// Eval evaluates the JavaScript expression in the page (awaiting a promise) and decodes
// its JSON value into T.
func Eval[T any](b *Browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, StepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("browser: evaluate %s: %v%s", strings.TrimSpace(expr), err, b.problemsNote())
	}
	return v
}

// Screenshot writes the visible viewport to $GANLINK_SCREENSHOTS/NAME.png when the
// variable is set.
func (b *Browser) Screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv("GANLINK_SCREENSHOTS")
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, StepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("browser: screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatalf("screenshot dir: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatalf("write screenshot: %v", err)
	}
}

// Problems returns the uncaught exceptions and console errors the pages reported so
// far, and forgets them.
func (b *Browser) Problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.problems
	b.problems = nil
	return p
}

func (b *Browser) problemsNote() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.problems) == 0 {
		return ""
	}
	return "\npage console errors:\n  " + strings.Join(b.problems, "\n  ")
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}
