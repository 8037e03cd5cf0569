package dlt645

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ganlink/ganlink/adapters/internal/serialline"
	"github.com/ganlink/ganlink/gateway/config"
)

// LineOf is the serial line of a discovery on the bus of spec (its endpoint and line
// keys, with the configuration's defaults and checks): what Discover opens. The error
// lists every problem of the settings, each naming its key.
func LineOf(spec SourceSpec) (serialline.Line, error) {
	spec.ApplyDefaults(nil)
	ck := &config.Checker{}
	l := spec.Line(ck, "", DefaultParity)
	l.Check(func(field, format string, a ...any) { ck.Add(field, format, a...) })
	if probs := ck.Problems(); len(probs) > 0 {
		errs := make([]error, len(probs))
		for i, p := range probs {
			errs[i] = fmt.Errorf("%s: %s", strings.TrimPrefix(p.Path, "."), p.Msg)
		}
		return l, errors.Join(errs...)
	}
	return l, nil
}
