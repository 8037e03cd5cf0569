package devcheck

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ganlink/ganlink/gateway/point"
)

func TestPolled(t *testing.T) {
	var got []string
	add := func(field, format string, a ...any) { got = append(got, field+": "+fmt.Sprintf(format, a...)) }
	seen := map[string]int{}
	Polled(add, "devices[0]", 0, seen, "em1", "energy_meter", []point.Tag{{Key: "a"}, {Key: "b"}})
	Polled(add, "devices[1]", 1, seen, "em1", "", []point.Tag{{Key: "b"}, {Key: "a"}})
	Polled(add, "devices[2]", 2, seen, "", "x", nil)
	want := `devices[1].device: duplicate device "em1" (also devices[0])
devices[1].measurement: must not be empty
devices[1].tags: not sorted by key: "b" before "a"
devices[2].device: must not be empty`
	if strings.Join(got, "\n") != want {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), want)
	}
}
