package registry

import (
	"fmt"
	"strconv"
	"strings"
)

// sectionRanges maps each section of GB/T 4754-2017 (国民经济行业分类) to its range of
// two-digit divisions: divisions 01–97 are contiguous, each section owning one range.
var sectionRanges = [...]struct {
	letter   byte
	from, to int
}{
	{'A', 1, 5}, {'B', 6, 12}, {'C', 13, 43}, {'D', 44, 46}, {'E', 47, 50},
	{'F', 51, 52}, {'G', 53, 60}, {'H', 61, 62}, {'I', 63, 65}, {'J', 66, 69},
	{'K', 70, 70}, {'L', 71, 72}, {'M', 73, 75}, {'N', 76, 79}, {'O', 80, 82},
	{'P', 83, 83}, {'Q', 84, 85}, {'R', 86, 90}, {'S', 91, 96}, {'T', 97, 97},
}

// SectionOf returns the section letter of a two-digit division (34 → 'C'), or 0 when
// GB/T 4754-2017 has no such division.
func SectionOf(division int) byte {
	for _, s := range sectionRanges {
		if division >= s.from && division <= s.to {
			return s.letter
		}
	}
	return 0
}

// ParseIndustry parses an industry code of GB/T 4754-2017 at any level and returns it
// with its section letter: a section ("C"), a division ("C34" or "34"), a group
// ("C341" or "341") or a class ("C3411" or "3411"). The structure is checked (a section
// letter A–T, digits, a division the standard has, the letter matching the division's
// section), not membership in the standard's list of classes.
func ParseIndustry(code string) (string, error) {
	bad := func(format string, a ...any) (string, error) {
		return "", fmt.Errorf("invalid industry code %q: "+format, append([]any{truncate(code)}, a...)...)
	}
	digits := code
	var letter byte
	if code != "" && code[0] >= 'A' && code[0] <= 'Z' {
		letter, digits = code[0], code[1:]
	}
	if len(code) > 5 || (digits == "" && letter == 0) || len(digits) == 1 || !allDigits(digits) {
		return bad("want a section letter A–T and up to 4 digits (GB/T 4754-2017, e.g. C3411)")
	}
	if digits == "" {
		if letter > 'T' {
			return bad("unknown section %q (want A–T)", string(letter))
		}
		return code, nil
	}
	div, _ := strconv.Atoi(digits[:2])
	sec := SectionOf(div)
	switch {
	case sec == 0:
		return bad("unknown division %q (want 01–97)", digits[:2])
	case letter != 0 && letter != sec:
		return bad("division %s is in section %c, not %c", digits[:2], sec, letter)
	}
	return string(sec) + digits, nil
}

// ParseIndustryClass parses an enterprise's industry: a 4-digit class of
// GB/T 4754-2017, with or without its section letter ("C3411" or "3411").
func ParseIndustryClass(code string) (string, error) {
	c, err := ParseIndustry(code)
	if err != nil {
		return "", err
	}
	if len(c) != 5 {
		return "", fmt.Errorf("invalid industry code %q: want a 4-digit class (GB/T 4754-2017, e.g. C3411)", truncate(code))
	}
	return c, nil
}

// IndustryWithin reports whether the class (canonical, "C3411") lies in the industry
// (canonical, any level: "C", "C34", "C341", "C3411").
func IndustryWithin(class, industry string) bool {
	return class != "" && industry != "" && strings.HasPrefix(class, industry)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// truncate bounds a value quoted in an error message.
func truncate(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	n := max
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// ParseValueAddedRate parses a value-added rate (增加值率): a share of output value in
// (0, 1], as a decimal ("0.32") or a percentage ("32%").
func ParseValueAddedRate(s string) (float64, error) {
	v, pct := strings.CutSuffix(strings.TrimSpace(s), "%")
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if pct {
		f /= 100
	}
	if err != nil || !(f > 0 && f <= 1) {
		return 0, fmt.Errorf("invalid value-added rate %q (want a share of output value in (0, 1], e.g. 0.32 or 32%%)", truncate(s))
	}
	return f, nil
}
