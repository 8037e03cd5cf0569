package dlt645

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// roleOf is how the meter template names the items of Probe: field, role, counter,
// unit.
var roleOf = map[DI]struct{ field, role, unit string }{
	0x00010000: {"energy_kwh_total", "energy_kwh_total", "kWh"},
	0x02030000: {"power_kw", "power_kw", "kW"},
	0x02010100: {"voltage_l1_v", "", "V"},
	0x02010200: {"voltage_l2_v", "", "V"},
	0x02010300: {"voltage_l3_v", "", "V"},
	0x02020100: {"current_l1_a", "", "A"},
	0x02020200: {"current_l2_a", "", "A"},
	0x02020300: {"current_l3_a", "", "A"},
	0x02060000: {"power_factor", "", ""},
	0x02800002: {"frequency_hz", "", "Hz"},
}

// EmitConfig writes the configuration of the meters found on the bus of spec: the
// sources.dlt645 section named source and one device per meter (ids idPrefix1,
// idPrefix2, …) with a signal for every item of Probe it answered, named and given a
// role as in configs/dlt645-meter.example.yaml, and the value read as a comment.
func EmitConfig(w io.Writer, source string, spec SourceSpec, found []Found, idPrefix string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %d DL/T 645-2007 meter(s) found on %s\n", len(found), spec.Endpoint)
	b.WriteString("sources:\n  dlt645:\n")
	fmt.Fprintf(&b, "    - name: %s\n      endpoint: %s\n", strconv.Quote(source), strconv.Quote(spec.Endpoint))
	if spec.BaudRate != 0 {
		fmt.Fprintf(&b, "      baud_rate: %d\n", spec.BaudRate)
	}
	if spec.Parity != "" {
		fmt.Fprintf(&b, "      parity: %s\n", spec.Parity)
	}
	if spec.ResponseTimeout.Set() {
		fmt.Fprintf(&b, "      response_timeout: %s\n", spec.ResponseTimeout.D)
	}
	if len(found) == 0 {
		b.WriteString("devices: []\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	b.WriteString("devices:\n")
	for i, f := range found {
		fmt.Fprintf(&b, "  - id: %s%d\n    kind: energy_meter\n    class: meter\n    source: %s\n    address: \"%s\"\n",
			idPrefix, i+1, strconv.Quote(source), f.Address)
		if len(f.Values) == 0 {
			b.WriteString("    signals: {}  # the meter answered none of the common data items\n")
			continue
		}
		b.WriteString("    signals:\n")
		for _, di := range Probe {
			v, ok := f.Values[di]
			if !ok {
				continue
			}
			r := roleOf[di]
			fmt.Fprintf(&b, "      %s:\n        di: \"%s\"  # %s, read %s\n", r.field, di, Items[di].Name,
				strconv.FormatFloat(v, 'f', -1, 64))
			if r.role != "" {
				fmt.Fprintf(&b, "        role: %s\n", r.role)
			}
			if di == 0x00010000 {
				b.WriteString("        counter: true\n")
			}
			if r.unit != "" {
				fmt.Fprintf(&b, "        unit: %s\n", r.unit)
			}
		}
		for _, di := range f.Refused {
			fmt.Fprintf(&b, "      # %s (%s): refused by the meter\n", di, Items[di].Name)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
