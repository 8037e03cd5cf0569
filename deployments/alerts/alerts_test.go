// Package alerts holds the shipped alert rules; its tests run them through promtool's
// unit tests and the real vmalert.
package alerts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ganlink/ganlink/internal/testsrv"
)

// TestRulesPromtool: the rule file is valid and every case of ganlink.rules.test.yml
// holds (each alert fires in its case and stays silent next to it).
func TestRulesPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: run scripts/install-deps.sh")
	}
	for _, args := range [][]string{{"check", "rules", "ganlink.rules.yml"}, {"test", "rules", "ganlink.rules.test.yml"}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "SUCCESS") {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestVMAlertFires: the real vmalert loads the shipped rules against VictoriaMetrics
// holding the health and KPI series of two healthy gateways, one of which dropped 4
// points a minute ago: GanlinkPointsDropped fires for that gateway only, nothing else
// fires, and the alert reaches the notifier.
func TestVMAlertFires(t *testing.T) {
	vm := testsrv.StartVictoria(t)
	var mu sync.Mutex
	var notified []string
	notifier := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var alerts []struct {
			Labels map[string]string `json:"labels"`
		}
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &alerts); err == nil {
			mu.Lock()
			for _, a := range alerts {
				notified = append(notified, a.Labels["alertname"]+"/"+a.Labels["workshop"])
			}
			mu.Unlock()
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer notifier.Close()

	now := time.Now().Truncate(time.Second)
	var lp bytes.Buffer
	for i, dropped := range []int{0, 0, 4} {
		ts := now.Add(time.Duration(i-2) * time.Minute).UnixNano()
		for _, w := range []struct {
			ws, inst string
			dropped  int
		}{{"w1", "aaaa", dropped}, {"w2", "bbbb", 0}} {
			fmt.Fprintf(&lp, "gateway_health,region=360100,park=p1,enterprise=e1,workshop=%s,gateway_instance=%s,version=v1 uptime_s=%d,queue_oldest_age_s=0,points_dropped=%d %d\n",
				w.ws, w.inst, 3600+60*i, w.dropped, ts)
			fmt.Fprintf(&lp, "workshop_kpi,region=360100,park=p1,enterprise=e1,workshop=%s,gateway_instance=%s,window=1m equipment_total=6 %d\n",
				w.ws, w.inst, ts)
		}
	}
	resp, err := http.Post(vm.URL+"/write", "text/plain", &lp)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %v %v", resp, err)
	}
	resp.Body.Close()
	vm.Flush()

	va := testsrv.StartVMAlert(t, vm.URL, notifier.URL, "ganlink.rules.yml")
	if msg := testsrv.WaitFor(30*time.Second, func() string {
		var firing []string
		for _, a := range va.Alerts() {
			if a.State == "firing" {
				firing = append(firing, a.Name+"/"+a.Labels["workshop"]+"/"+a.Labels["gateway_instance"]+"="+a.Value)
			}
		}
		if !slices.Equal(firing, []string{"GanlinkPointsDropped/w1/aaaa=4"}) {
			return fmt.Sprintf("firing %v, want GanlinkPointsDropped for w1 only", firing)
		}
		mu.Lock()
		defer mu.Unlock()
		if !slices.Contains(notified, "GanlinkPointsDropped/w1") {
			return fmt.Sprintf("notifier received %v", notified)
		}
		return ""
	}); msg != "" {
		t.Fatal(msg)
	}
}
