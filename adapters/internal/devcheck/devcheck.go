// Package devcheck holds the checks of a device's identity that every adapter's
// configuration makes in the same words: the device id, its measurement and its tags.
package devcheck

import (
	"time"

	"github.com/ganlink/ganlink/gateway/point"
)

// AddFunc reports a problem at a field path, as the adapters' Config checks do.
type AddFunc func(field, format string, a ...any)

// SortedTags reports tags not sorted by key (points carry sorted tag slices).
func SortedTags(add AddFunc, path string, tags []point.Tag) {
	for j := 1; j < len(tags); j++ {
		if tags[j-1].Key > tags[j].Key {
			add(path+".tags", "not sorted by key: %q before %q", tags[j-1].Key, tags[j].Key)
			return
		}
	}
}

// Polled checks device i of a polled source (path p, e.g. "devices[3]"): a non-empty
// id that no earlier device of the source has (seen maps ids to their index), a
// measurement and sorted tags.
func Polled(add AddFunc, p string, i int, seen map[string]int, device, measurement string, tags []point.Tag) {
	if device == "" {
		add(p+".device", "must not be empty")
	} else if j, dup := seen[device]; dup {
		add(p+".device", "duplicate device %q (also devices[%d])", device, j)
	} else {
		seen[device] = i
	}
	if measurement == "" {
		add(p+".measurement", "must not be empty")
	}
	SortedTags(add, p, tags)
}

// PollInterval checks the poll interval d of a polled device's Config at field (0 is
// the adapter's default): not negative, not below min.
func PollInterval(add AddFunc, field string, d, min time.Duration) {
	if d < 0 || (d > 0 && d < min) {
		add(field, "invalid interval %s: want at least %s", d, min)
	}
}
