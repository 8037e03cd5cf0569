package registry

import (
	"fmt"
	"strings"
)

// Level is the administrative level of a region, derived from its GB/T 2260 code.
type Level int

const (
	// Province is a code ending in "0000" (省级: provinces, autonomous regions,
	// municipalities).
	Province Level = iota + 1
	// City is a code ending in "00" but not "0000" (地级: prefecture-level cities,
	// also the "市辖区" and "省直辖县级行政区划" groupings).
	City
	// County is any other code (县级: districts, counties, county-level cities).
	County
)

// String returns "province", "city" or "county".
func (l Level) String() string {
	switch l {
	case Province:
		return "province"
	case City:
		return "city"
	case County:
		return "county"
	default:
		return "unknown"
	}
}

// ParseLevel parses "province", "city" or "county".
func ParseLevel(s string) (Level, bool) {
	switch s {
	case "province":
		return Province, true
	case "city":
		return City, true
	case "county":
		return County, true
	}
	return 0, false
}

// provinces are the two-digit province codes of GB/T 2260.
var provinces = map[string]bool{
	"11": true, "12": true, "13": true, "14": true, "15": true,
	"21": true, "22": true, "23": true,
	"31": true, "32": true, "33": true, "34": true, "35": true, "36": true, "37": true,
	"41": true, "42": true, "43": true, "44": true, "45": true, "46": true,
	"50": true, "51": true, "52": true, "53": true, "54": true,
	"61": true, "62": true, "63": true, "64": true, "65": true,
	"71": true, "81": true, "82": true,
}

// CheckRegionCode validates a six-digit GB/T 2260 code and returns its level.
func CheckRegionCode(code string) (Level, error) {
	if len(code) != 6 {
		return 0, fmt.Errorf("invalid region code %q: want 6 digits", code)
	}
	for i := 0; i < 6; i++ {
		if code[i] < '0' || code[i] > '9' {
			return 0, fmt.Errorf("invalid region code %q: want 6 digits", code)
		}
	}
	if !provinces[code[:2]] {
		return 0, fmt.Errorf("invalid region code %q: unknown province %q", code, code[:2])
	}
	switch {
	case code[2:] == "0000":
		return Province, nil
	case code[4:] == "00":
		return City, nil
	default:
		return County, nil
	}
}

// ProvinceOf returns the province code of a valid region code ("360102" → "360000").
func ProvinceOf(code string) string { return code[:2] + "0000" }

// CityOf returns the city-level code of a valid region code ("360102" → "360100").
func CityOf(code string) string { return code[:4] + "00" }

// usccChars is the character set of the unified social credit code (GB 32100-2015):
// digits and upper-case letters without I, O, Z, S and V; a character's value is its
// index.
const usccChars = "0123456789ABCDEFGHJKLMNPQRTUWXY"

var usccWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

// USCCCheck returns the check character (position 18) for the first 17 characters of a
// unified social credit code, or an error naming an invalid character.
func USCCCheck(first17 string) (byte, error) {
	if len(first17) != 17 {
		return 0, fmt.Errorf("want 17 characters, got %d", len(first17))
	}
	sum := 0
	for i := 0; i < 17; i++ {
		v := strings.IndexByte(usccChars, first17[i])
		if v < 0 {
			return 0, fmt.Errorf("invalid character %q at position %d", first17[i], i+1)
		}
		sum += v * usccWeights[i]
	}
	c := 31 - sum%31
	if c == 31 {
		c = 0
	}
	return usccChars[c], nil
}

// CheckUSCC validates an 18-character unified social credit code (统一社会信用代码,
// GB 32100-2015): character set and check character.
func CheckUSCC(code string) error {
	if len(code) != 18 {
		return fmt.Errorf("invalid unified social credit code %q: want 18 characters", code)
	}
	want, err := USCCCheck(code[:17])
	if err != nil {
		return fmt.Errorf("invalid unified social credit code %q: %w", code, err)
	}
	if strings.IndexByte(usccChars, code[17]) < 0 {
		return fmt.Errorf("invalid unified social credit code %q: invalid character %q at position 18", code, code[17])
	}
	if code[17] != want {
		return fmt.Errorf("invalid unified social credit code %q: check character %q, want %q", code, code[17], want)
	}
	return nil
}
