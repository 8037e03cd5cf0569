package modbus

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseUnits reads the unit ids of a scan: "FIRST-LAST" or "ID", within 0..255 (the
// -units of gateway browse and the units of the commissioning scan).
func ParseUnits(s string) (first, last int, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		b = a
	}
	first, err1 := strconv.Atoi(strings.TrimSpace(a))
	last, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || first < 0 || last > 255 || first > last {
		return 0, 0, fmt.Errorf("want FIRST-LAST within 0..255, e.g. 1-247")
	}
	return first, last, nil
}

// The serial settings of a scan of a serial:// endpoint unless given (gateway browse's
// -baud-rate, -parity, -data-bits, -stop-bits defaults, and the commissioning scan's).
const (
	DefaultScanBaudRate = 9600
	DefaultScanParity   = "none"
	DefaultScanDataBits = 8
	DefaultScanStopBits = 1
)
