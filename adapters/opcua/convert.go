package opcua

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/gopcua/opcua/ua"

	"github.com/ganlink/ganlink/gateway/point"
)

// convert turns the data change notifications of one publish response into one point per
// notification. It allocates the batch and one shared field array, nothing per value on
// the good path. A bad status change of the subscription is returned as an error.
func (ss *session) convert(res *ua.PublishResponse, now time.Time) (point.Batch, error) {
	msg := res.NotificationMessage
	n := 0
	for _, eo := range msg.NotificationData {
		if eo == nil {
			continue
		}
		if dcn, ok := eo.Value.(*ua.DataChangeNotification); ok {
			n += len(dcn.MonitoredItems)
		}
	}
	var b point.Batch
	var fields []point.Field
	if n > 0 {
		b = make(point.Batch, 0, n)
		fields = make([]point.Field, n)
	}
	var statusErr error
	nowNs := now.UnixNano()
	for _, eo := range msg.NotificationData {
		if eo == nil {
			continue
		}
		switch v := eo.Value.(type) {
		case *ua.DataChangeNotification:
			b = ss.appendDataChange(b, fields, res.SubscriptionID, v, nowNs)
		case *ua.StatusChangeNotification:
			if quality(v.Status) != point.Good {
				statusErr = fmt.Errorf("subscription %d on %q: status change: %w", res.SubscriptionID, ss.s.cfg.Endpoint, v.Status)
			}
		}
	}
	return b, statusErr
}

// appendDataChange appends a point per notification of dcn; fields has room for all of
// them and backs the points' one-element Fields slices.
func (ss *session) appendDataChange(b point.Batch, fields []point.Field, subID uint32, dcn *ua.DataChangeNotification, now int64) point.Batch {
	s := ss.s
	for _, mi := range dcn.MonitoredItems {
		if mi == nil || mi.Value == nil {
			continue
		}
		h := int(mi.ClientHandle)
		if h >= len(s.items) || ss.state[h] != itemMonitored || ss.subOf[h] != subID {
			continue // a stale item of a deleted or re-created monitored item
		}
		it := &s.items[h]
		dv := mi.Value
		f, reason, err := it.field(dv)
		if f.Quality == point.Bad {
			if st := dv.Status &^ 0xffff; st == ua.StatusBadNodeIDUnknown || st == ua.StatusBadNodeIDInvalid {
				ss.state[h] = itemRejected
				ss.rebind = append(ss.rebind, rebind{item: h, status: dv.Status})
			}
		}
		if err != nil {
			s.obs.SignalError(s.cfg.Name, it.dev.id, it.key, reason, err)
			continue
		}
		k := len(b)
		fields[k] = f
		b = append(b, point.Point{
			Measurement: it.dev.measurement,
			Device:      it.dev.id,
			Tags:        it.dev.tags,
			Fields:      fields[k : k+1 : k+1],
			Time:        s.timestamp(dv, now),
		})
	}
	return b
}

// field converts one data value of the item, as the running source does and as
// ReadOnce does: its quality from the status, the value through the item's Conv. The
// error (with the observer reason "type" or "nan") is a value that cannot be converted;
// the field is then not used.
func (it *item) field(dv *ua.DataValue) (f point.Field, reason string, err error) {
	f = point.Field{Key: it.key, Quality: quality(dv.Status)}
	if f.Quality == point.Uncertain && isNull(dv) {
		// An uncertain status without a value (servers send it for "no
		// communication, no last usable value") carries nothing to use: a quality
		// problem, not a type error. It becomes a bad field, so its value is not
		// written and the last good value does not reappear.
		f.Quality = point.Bad
	}
	if f.Quality == point.Bad {
		// The value of a bad status is never used, so the last good value cannot
		// reappear under a bad quality.
		return f, "", nil
	}
	v, err := it.value(dv.Value)
	if err != nil {
		reason = "type"
		if errors.Is(err, point.ErrNotFinite) {
			reason = "nan"
		}
		return f, reason, err
	}
	f.Value = v
	return f, "", nil
}

// isNull reports whether a data value carries no value: no Variant, or a Null one.
func isNull(dv *ua.DataValue) bool {
	return dv.Value == nil || dv.Value.Type() == ua.TypeIDNull
}

// quality maps the severity bits of an OPC UA status code: 00 good, 01 uncertain,
// 10 and 11 bad.
func quality(st ua.StatusCode) point.Quality {
	switch st >> 30 {
	case 0:
		return point.Good
	case 1:
		return point.Uncertain
	default:
		return point.Bad
	}
}

// timestamp picks the point time per the configured timestamp mode, in Unix ns.
func (s *Source) timestamp(dv *ua.DataValue, now int64) int64 {
	switch s.ts {
	case tsSource:
		if t := unixNano(dv.SourceTimestamp); t > 0 {
			return t
		}
		fallthrough
	case tsServer:
		if t := unixNano(dv.ServerTimestamp); t > 0 {
			return t
		}
	}
	return now
}

// unixNano returns t in Unix ns, or 0 for a missing (zero) time and for times outside
// 1970..2262, which Unix ns cannot carry (PLCs with an unset clock send 1601-01-01).
func unixNano(t time.Time) int64 {
	if sec := t.Unix(); sec <= 0 || sec >= math.MaxInt64/int64(time.Second) {
		return 0
	}
	return t.UnixNano()
}

// value converts a variant to the field value: numbers and booleans through the item's
// Conv, strings and the texts of LocalizedTexts through its map. Anything else is an error wrapping point.ErrType.
func (it *item) value(v *ua.Variant) (float64, error) {
	if v == nil {
		return 0, it.convError("Null", fmt.Errorf("null value: %w", point.ErrType))
	}
	t := v.Type()
	if v.Has(ua.VariantArrayValues) {
		return 0, it.convError(typeName(t)+" array", point.ErrType)
	}
	switch t {
	case ua.TypeIDBoolean, ua.TypeIDSByte, ua.TypeIDByte, ua.TypeIDInt16, ua.TypeIDUint16,
		ua.TypeIDInt32, ua.TypeIDUint32, ua.TypeIDInt64, ua.TypeIDUint64, ua.TypeIDFloat,
		ua.TypeIDDouble, ua.TypeIDString:
		f, err := it.conv.Apply(v.Value())
		if err != nil {
			return 0, it.convError(typeName(t), err)
		}
		return f, nil
	case ua.TypeIDLocalizedText:
		// The text of a LocalizedText (a state machine's CurrentState) goes through the
		// map like a String; its locale is ignored.
		lt, _ := v.Value().(*ua.LocalizedText)
		if lt == nil {
			return 0, it.convError("LocalizedText", fmt.Errorf("null value: %w", point.ErrType))
		}
		f, err := it.conv.Apply(lt.Text)
		if err != nil {
			return 0, it.convError("LocalizedText", err)
		}
		return f, nil
	case ua.TypeIDNull:
		return 0, it.convError("Null", fmt.Errorf("null value: %w", point.ErrType))
	default:
		return 0, it.convError(typeName(t), point.ErrType)
	}
}

// convError describes a value the item cannot carry. Its text is bounded: err may
// quote a string value of any length.
func (it *item) convError(typ string, err error) error {
	if it.bp != nil {
		return bound(fmt.Errorf("convert %s value of device %q field %q (browse path %q): %w",
			typ, it.dev.id, it.key, it.bp.path, err))
	}
	return bound(fmt.Errorf("convert %s value of device %q field %q (node %q): %w",
		typ, it.dev.id, it.key, it.nodeID, err))
}

// typeName is the OPC UA built-in type name, e.g. "Double" or "ExtensionObject".
func typeName(t ua.TypeID) string {
	return strings.Replace(strings.TrimPrefix(t.String(), "TypeID"), "Uint", "UInt", 1)
}
