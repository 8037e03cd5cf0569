package mqtt

import (
	"errors"
	"fmt"
	"github.com/ganlink/ganlink/gateway/point"
	"strings"
	"unicode/utf8"
)

// maxTopicBytes is the longest topic MQTT can carry (a 16-bit length).
const maxTopicBytes = 65535

// maxQuoted is how much of a topic or path a message quotes.
const maxQuoted = 64

// validateFilter checks an MQTT topic filter: '+' and '#' only as whole levels, '#' last.
func validateFilter(f string) error {
	if f == "" {
		return errors.New("empty topic")
	}
	if len(f) > maxTopicBytes {
		return fmt.Errorf("invalid topic %q: %d bytes, at most %d", point.Truncate(f, maxQuoted), len(f), maxTopicBytes)
	}
	if strings.IndexByte(f, 0) >= 0 {
		return fmt.Errorf("invalid topic %q: contains a NUL character", point.Truncate(f, maxQuoted))
	}
	if !utf8.ValidString(f) {
		return fmt.Errorf("invalid topic %q: not UTF-8", point.Truncate(f, maxQuoted))
	}
	rest := f
	for {
		i := strings.IndexByte(rest, '/')
		level := rest
		if i >= 0 {
			level = rest[:i]
		}
		switch {
		case level == "+":
		case level == "#" && i < 0:
		case strings.ContainsAny(level, "+#"):
			return fmt.Errorf("invalid topic %q: '+' and '#' must fill a whole level, '#' only last", point.Truncate(f, maxQuoted))
		}
		if i < 0 {
			return nil
		}
		rest = rest[i+1:]
	}
}

// isWildcard reports whether a valid filter contains a wildcard level.
func isWildcard(f string) bool { return strings.ContainsAny(f, "+#") }

// matchTopic reports whether topic matches the valid filter (MQTT 3.1.1 §4.7): '+'
// matches one level, '#' the parent level and any number of levels below, and a filter
// starting with a wildcard does not match topics starting with '$'.
func matchTopic(filter, topic string) bool {
	if topic != "" && topic[0] == '$' && filter != "" && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		fi := strings.IndexByte(filter, '/')
		fl := filter
		if fi >= 0 {
			fl = filter[:fi]
		}
		if fl == "#" {
			return true
		}
		ti := strings.IndexByte(topic, '/')
		tl := topic
		if ti >= 0 {
			tl = topic[:ti]
		}
		if fl != "+" && fl != tl {
			return false
		}
		switch {
		case fi < 0:
			return ti < 0
		case ti < 0:
			return filter[fi+1:] == "#"
		}
		filter, topic = filter[fi+1:], topic[ti+1:]
	}
}

// covers reports whether every topic matched by filter f is matched by filter sub.
func covers(sub, f string) bool {
	if f != "" && f[0] == '$' && sub != "" && (sub[0] == '+' || sub[0] == '#') {
		return false
	}
	for {
		si := strings.IndexByte(sub, '/')
		sl := sub
		if si >= 0 {
			sl = sub[:si]
		}
		if sl == "#" {
			return true
		}
		fi := strings.IndexByte(f, '/')
		fl := f
		if fi >= 0 {
			fl = f[:fi]
		}
		switch {
		case fl == "#":
			return false
		case sl == "+":
		case sl != fl:
			return false
		}
		switch {
		case si < 0:
			return fi < 0
		case fi < 0:
			return sub[si+1:] == "#"
		}
		sub, f = sub[si+1:], f[fi+1:]
	}
}

// coveredBy reports whether one of subs covers f.
func coveredBy(subs []string, f string) bool {
	for _, s := range subs {
		if validateFilter(s) == nil && covers(s, f) {
			return true
		}
	}
	return false
}
