package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// countSamples returns the number of distinct samples VictoriaMetrics holds for the
// series matching selector with timestamps in (at-window, at]. The server must run
// with -dedup.minScrapeInterval=1ms, so that a sample written twice (a redelivered
// message) counts once.
//
// Samples written in the last second or so are not all visible to queries even right
// after /internal/force_flush, so it counts until the count has not changed for
// countSettle (at most countTimeout).
func countSamples(ctx context.Context, baseURL, selector string, window time.Duration, at time.Time) (int64, error) {
	deadline := time.Now().Add(countTimeout)
	last, since := int64(-1), time.Now()
	for {
		n, err := countOnce(ctx, baseURL, selector, window, at)
		if err != nil {
			return 0, err
		}
		now := time.Now()
		if n != last {
			last, since = n, now
		} else if now.Sub(since) >= countSettle {
			return n, nil
		}
		if now.After(deadline) {
			return 0, fmt.Errorf("count samples of %s: still changing after %s (last %d)", selector, countTimeout, n)
		}
		if err := sleepCtx(ctx, 250*time.Millisecond); err != nil {
			return 0, err
		}
	}
}

// How long a sample count must hold still, and how long countSamples tries at most.
const (
	countSettle  = 2 * time.Second
	countTimeout = time.Minute
)

func countOnce(ctx context.Context, baseURL, selector string, window time.Duration, at time.Time) (int64, error) {
	if err := vmGet(ctx, baseURL+"/internal/force_flush", nil); err != nil {
		return 0, fmt.Errorf("count samples: %w", err)
	}
	q := fmt.Sprintf("sum(count_over_time(%s[%dms]))", selector, window.Milliseconds())
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	u := baseURL + "/api/v1/query?" + url.Values{
		"query": {q},
		"time":  {strconv.FormatFloat(float64(at.UnixMilli())/1e3, 'f', 3, 64)},
	}.Encode()
	if err := vmGet(ctx, u, &r); err != nil {
		return 0, fmt.Errorf("count samples %s: %w", q, err)
	}
	if len(r.Data.Result) == 0 {
		return 0, nil
	}
	s, ok := r.Data.Result[0].Value[1].(string)
	if !ok {
		return 0, fmt.Errorf("count samples %s: value %v is not a string", q, r.Data.Result[0].Value[1])
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("count samples %s: %w", q, err)
	}
	return int64(n), nil
}

func vmGet(ctx context.Context, u string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d: %s", u, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("GET %s: decode: %w", u, err)
		}
	}
	return nil
}
