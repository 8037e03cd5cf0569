package dlt645

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/ganlink/ganlink/adapters/internal/serialline"
)

// Found is a meter found on a bus by Discover.
type Found struct {
	Address Address
	// Broadcast is true when the address was read with the broadcast request.
	Broadcast bool
	// Values are the data items of Probe the meter answered, with their values;
	// Refused names the ones it answered with an exception.
	Values  map[DI]float64
	Refused []DI
}

// Probe are the data items Discover reads from every meter found, in order: the ones
// the meter template maps to roles.
var Probe = []DI{0x00010000, 0x02010100, 0x02010200, 0x02010300, 0x02020100, 0x02020200, 0x02020300,
	0x02030000, 0x02060000, 0x02800002}

// Discover finds the meters on the bus of spec (a source section: its endpoint and
// line keys, with the same defaults and checks as in the configuration). Without
// addresses it sends the broadcast read-address request, which only works with a single
// meter on the bus (several answer at once and their replies collide); with addresses
// it asks each one for total forward active energy (00010000) and keeps those that
// answer, with data or an exception. Every meter found is then asked for each item of
// Probe. A meter that does not answer is not an error; a line that cannot be opened is.
func Discover(ctx context.Context, spec SourceSpec, addrs []Address) ([]Found, error) {
	l, err := LineOf(spec)
	if err != nil {
		return nil, err
	}
	bus := serialline.NewBus(l)
	defer bus.Close()
	if err := bus.Open(ctx); err != nil {
		return nil, err
	}
	buf := make([]byte, 0, MaxFrame+maxPreamble)
	var found []Found
	if len(addrs) == 0 {
		req := ReadAddressRequest()
		var a Address
		err := bus.Transact(ctx, req.Encode(), func(r io.Reader) error {
			f, _, err := ReadFrame(r, buf)
			if err != nil {
				return err
			}
			a, err = ParseReadAddress(&f)
			return err
		})
		if err != nil {
			if errors.Is(err, serialline.ErrTimeout) {
				return nil, nil
			}
			var le *serialline.LineError
			if errors.As(err, &le) || ctx.Err() != nil {
				return nil, err
			}
			return nil, fmt.Errorf("read address by broadcast: %w (several meters on the bus answer at once: give their addresses)", err)
		}
		found = append(found, Found{Address: a, Broadcast: true})
	} else {
		for _, a := range addrs {
			if _, err := readItem(ctx, bus, buf, a, 0x00010000); err == nil || isAnswer(err) {
				found = append(found, Found{Address: a})
			} else if !errors.Is(err, serialline.ErrTimeout) && !errors.Is(err, ErrFrame) {
				return found, err
			}
		}
	}
	for i := range found {
		f := &found[i]
		f.Values = map[DI]float64{}
		for _, di := range Probe {
			v, err := readItem(ctx, bus, buf, f.Address, di)
			switch {
			case err == nil:
				f.Values[di] = v
			case isAnswer(err):
				f.Refused = append(f.Refused, di)
			case ctx.Err() != nil:
				return found, ctx.Err()
			}
		}
		slices.Sort(f.Refused)
	}
	return found, nil
}

// isAnswer reports whether err is a reply that shows the meter is there.
func isAnswer(err error) bool {
	var ee *ExceptionError
	return errors.As(err, &ee)
}

// readItem reads one data item of the table.
func readItem(ctx context.Context, bus *serialline.Bus, buf []byte, a Address, di DI) (float64, error) {
	req := ReadDataRequest(a, di)
	var value []byte
	err := bus.Transact(ctx, req.Encode(), func(r io.Reader) error {
		f, _, err := ReadFrame(r, buf)
		if err != nil {
			return err
		}
		v, err := ParseReadData(&f, a, di)
		value = slices.Clone(v)
		return err
	})
	if err != nil {
		return 0, err
	}
	return Items[di].Format.Decode(value)
}
