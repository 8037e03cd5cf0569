// Copyright 2018-2020 opcua authors. All rights reserved.
// Use of this source code is governed by a MIT-style license that can be
// found in the LICENSE file.

// Patch (not in upstream v0.8.0): a PublishResponse decoder written out by hand. See
// PATCHES.md at the root of this module.

package ua

import (
	"math"
	"reflect"

	"github.com/gopcua/opcua/id"
)

// The reflection decoder (decode.go) spends six allocations and 1-1.5 µs on every
// value of a publish response: a Buffer per field, the MonitoredItemNotification,
// DataValue and Variant structs, the interfaces between them. decodePublishResponse walks the same encoding directly
// and takes the MonitoredItemNotifications, DataValues and Variants of a
// DataChangeNotification from one slice each per 256 items.
//
// It produces exactly the values Decode(b, new(PublishResponse)) produces (the
// differential test and FuzzDecodePublishResponse in publish_fast_test.go, and
// adapters/opcua's tests on responses captured from real servers, compare them), charges the same allocation budget at the same points and keeps the same
// nesting levels. Everything it does not handle itself is decoded by the functions
// the reflection decoder calls for it, at the same level and with the same budget:
// the diagnostic infos and the additional header, notification data other than a
// binary DataChangeNotification (status changes, events), and Variants other than a
// scalar of a fixed-size built-in type, a String, a ByteString or an XmlElement
// (arrays, node ids, nested values). On any error it gives up; the caller then decodes
// the message again with the reflection decoder, which returns the error.

// Costs charged to the budget per element, as decodeSlice charges them.
var (
	costString       = elemCost(reflect.TypeOf(""))
	costUint32       = elemCost(reflect.TypeOf(uint32(0)))
	costExtObject    = elemCost(reflect.TypeOf((*ExtensionObject)(nil)))
	costItem         = elemCost(reflect.TypeOf((*MonitoredItemNotification)(nil)))
	costDiagnostic   = elemCost(reflect.TypeOf((*DiagnosticInfo)(nil)))
	costStatusCode   = elemCost(reflect.TypeOf(StatusCode(0)))
	publishServiceID = uint32(id.PublishResponse_Encoding_DefaultBinary)
	dataChangeID     = uint32(id.DataChangeNotification_Encoding_DefaultBinary)
)

// minItemBytes is the smallest encoding of a MonitoredItemNotification: a client
// handle and a DataValue's encoding mask. An array announcing more items than the
// bytes left can hold fails in the reflection decoder too; the fast path refuses it
// before allocating its slices, so what it allocates up front stays within a small
// multiple of the message size.
const minItemBytes = 5

// slabItems is how many MonitoredItemNotifications, DataValues and Variants are made
// in one slice each: at most 256 keeps each slice a small allocation (the DataValues'
// is 22 KiB; the runtime serves up to 32 KiB from its size classes). Slices of a
// whole message's items (88 KiB of DataValues for 1000) are large allocations, taken
// from and returned to the page heap one by one: in a gateway at 10 000 values a
// second the runtime's scavenger then spent 11 % of the process's CPU returning their
// pages to the operating system.
const slabItems = 256

// decodePublishResponse decodes the body of a PublishResponse (the bytes after its
// type id) into r, which must be zero. It returns false when it met an error; r is
// then partly filled and must not be used.
func decodePublishResponse(b []byte, r *PublishResponse) bool {
	buf := &Buffer{buf: b, depth: nest{budget: newBudget(len(b))}}

	h := new(ResponseHeader)
	r.ResponseHeader = h
	h.Timestamp = buf.ReadTime()
	h.RequestHandle = buf.ReadUint32()
	h.ServiceResult = StatusCode(buf.ReadUint32())
	h.ServiceDiagnostics = new(DiagnosticInfo)
	buf.ReadStruct(h.ServiceDiagnostics)
	n, ok := fastLen(buf, costString)
	if !ok {
		return false
	}
	if n >= 0 {
		h.StringTable = make([]string, n)
		for i := range h.StringTable {
			h.StringTable[i] = buf.ReadString()
		}
	}
	h.AdditionalHeader = new(ExtensionObject)
	buf.ReadStruct(h.AdditionalHeader)

	r.SubscriptionID = buf.ReadUint32()
	if n, ok = fastLen(buf, costUint32); !ok {
		return false
	}
	if n >= 0 {
		r.AvailableSequenceNumbers = make([]uint32, n)
		for i := range r.AvailableSequenceNumbers {
			r.AvailableSequenceNumbers[i] = buf.ReadUint32()
		}
	}
	r.MoreNotifications = buf.ReadBool()

	m := new(NotificationMessage)
	r.NotificationMessage = m
	m.SequenceNumber = buf.ReadUint32()
	m.PublishTime = buf.ReadTime()
	if n, ok = fastLen(buf, costExtObject); !ok {
		return false
	}
	if n >= 0 {
		m.NotificationData = make([]*ExtensionObject, n)
		for i := range m.NotificationData {
			e := new(ExtensionObject)
			m.NotificationData[i] = e
			if !fastNotification(buf, e) {
				return false
			}
		}
	}

	if n, ok = fastLen(buf, costStatusCode); !ok {
		return false
	}
	if n >= 0 {
		r.Results = make([]StatusCode, n)
		for i := range r.Results {
			r.Results[i] = StatusCode(buf.ReadUint32())
		}
	}
	if !fastDiagnostics(buf, &r.DiagnosticInfos) {
		return false
	}
	return buf.err == nil
}

// fastLen reads an array length and charges its elements of the given cost to the
// budget, with the checks of decodeSlice. It returns -1 for the null array.
func fastLen(buf *Buffer, cost int64) (int, bool) {
	n := buf.ReadUint32()
	if buf.err != nil {
		return 0, false
	}
	if n == null {
		return -1, true
	}
	if int64(n) > int64(buf.Len()) || n > math.MaxInt32 {
		return 0, false
	}
	if buf.depth.spend(int64(n)*cost) != nil {
		return 0, false
	}
	return int(n), true
}

// fastDiagnostics decodes an array of DiagnosticInfos at the buffer's level, as
// decodeSlice does.
func fastDiagnostics(buf *Buffer, dst *[]*DiagnosticInfo) bool {
	n, ok := fastLen(buf, costDiagnostic)
	if !ok {
		return false
	}
	if n < 0 {
		return true
	}
	d := make([]*DiagnosticInfo, n)
	for i := range d {
		d[i] = new(DiagnosticInfo)
		buf.ReadStruct(d[i])
	}
	*dst = d
	return buf.err == nil
}

// isNumericID reports whether n is the numeric id i in namespace 0, whichever of the
// numeric encodings it came in: the type registries' key is n.String(), "i=<i>" for
// exactly those.
func isNumericID(n *NodeID, i uint32) bool {
	switch n.Type() {
	case NodeIDTypeTwoByte, NodeIDTypeFourByte, NodeIDTypeNumeric:
		return n.ns == 0 && n.nid == i
	}
	return false
}

// fastNotification decodes one element of NotificationData into e, which must be
// zero: a binary DataChangeNotification by hand, anything else with
// ExtensionObject's decoder from the start of the object.
func fastNotification(buf *Buffer, e *ExtensionObject) bool {
	start := buf.pos
	depth := buf.depth.inner() // the object's level, as decodeSlice passes it
	e.TypeID = new(ExpandedNodeID)
	buf.ReadStruct(e.TypeID)
	e.EncodingMask = buf.ReadByte()
	if buf.err != nil {
		return false
	}
	if e.EncodingMask == ExtensionObjectBinary && isNumericID(e.TypeID.NodeID, dataChangeID) {
		length := buf.ReadUint32()
		if buf.err != nil {
			return false
		}
		if length != 0 && length != null {
			body := buf.ReadN(int(length))
			if buf.err != nil {
				return false
			}
			dcn := new(DataChangeNotification)
			e.Value = dcn
			return fastDataChange(&Buffer{buf: body, depth: depth}, dcn)
		}
	}
	*e = ExtensionObject{}
	buf.pos = start
	buf.ReadStruct(e)
	return buf.err == nil
}

// fastDataChange decodes the body of a DataChangeNotification; buf's level is that
// of the ExtensionObject holding it.
func fastDataChange(buf *Buffer, dcn *DataChangeNotification) bool {
	n, ok := fastLen(buf, costItem)
	if !ok {
		return false
	}
	if n >= 0 {
		if n > buf.Len()/minItemBytes {
			return false
		}
		items := make([]*MonitoredItemNotification, n)
		var (
			mis []MonitoredItemNotification
			dvs []DataValue
			vs  []Variant
		)
		dvDepth := buf.depth.inner()
		for i := range items {
			if len(mis) == 0 {
				k := min(n-i, slabItems)
				mis, dvs, vs = make([]MonitoredItemNotification, k), make([]DataValue, k), make([]Variant, k)
			}
			mi, dv, v := &mis[0], &dvs[0], &vs[0]
			mis, dvs, vs = mis[1:], dvs[1:], vs[1:]
			items[i] = mi
			mi.ClientHandle = buf.ReadUint32()
			mi.Value = dv
			if !fastDataValue(buf, dv, v, dvDepth) {
				return false
			}
		}
		dcn.MonitoredItems = items
	}
	return fastDiagnostics(buf, &dcn.DiagnosticInfos)
}

// fastDataValue is DataValue.decodeDepth with v as the Variant it allocates.
func fastDataValue(buf *Buffer, d *DataValue, v *Variant, depth nest) bool {
	if depth.spend(variantSize) != nil {
		return false
	}
	d.EncodingMask = buf.ReadByte()
	d.Value = v
	if d.EncodingMask&DataValueValue != 0 && !fastVariant(buf, v, depth.inner()) {
		return false
	}
	if d.EncodingMask&DataValueStatusCode != 0 {
		d.Status = StatusCode(buf.ReadUint32())
	}
	if d.EncodingMask&DataValueSourceTimestamp != 0 {
		d.SourceTimestamp = buf.ReadTime()
	}
	if d.EncodingMask&DataValueSourcePicoseconds != 0 {
		d.SourcePicoseconds = buf.ReadUint16()
	}
	if d.EncodingMask&DataValueServerTimestamp != 0 {
		d.ServerTimestamp = buf.ReadTime()
	}
	if d.EncodingMask&DataValueServerPicoseconds != 0 {
		d.ServerPicoseconds = buf.ReadUint16()
	}
	return buf.err == nil
}

// fastVariant decodes a scalar Variant of a simple built-in type into v, which must
// be zero, as Variant.decodeDepth does; anything else goes to Variant.decodeDepth.
func fastVariant(buf *Buffer, v *Variant, depth nest) bool {
	start := buf.pos
	v.mask = buf.ReadByte()
	if buf.err != nil {
		return false
	}
	if v.mask&0x3f == byte(TypeIDNull) {
		return true
	}
	if v.mask&VariantArrayValues == 0 {
		switch TypeID(v.mask & 0x3f) {
		case TypeIDBoolean:
			v.value = buf.ReadBool()
		case TypeIDSByte:
			v.value = buf.ReadInt8()
		case TypeIDByte:
			v.value = buf.ReadByte()
		case TypeIDInt16:
			v.value = buf.ReadInt16()
		case TypeIDUint16:
			v.value = buf.ReadUint16()
		case TypeIDInt32:
			v.value = buf.ReadInt32()
		case TypeIDUint32:
			v.value = buf.ReadUint32()
		case TypeIDInt64:
			v.value = buf.ReadInt64()
		case TypeIDUint64:
			v.value = buf.ReadUint64()
		case TypeIDFloat:
			v.value = buf.ReadFloat32()
		case TypeIDDouble:
			v.value = buf.ReadFloat64()
		case TypeIDString:
			v.value = buf.ReadString()
		case TypeIDDateTime:
			v.value = buf.ReadTime()
		case TypeIDByteString:
			v.value = buf.ReadBytes()
		case TypeIDXMLElement:
			v.value = XMLElement(buf.ReadString())
		case TypeIDStatusCode:
			v.value = StatusCode(buf.ReadUint32())
		default:
			goto general
		}
		return buf.err == nil
	}
general:
	*v = Variant{}
	n, err := v.decodeDepth(buf.buf[start:], depth)
	if err != nil {
		return false
	}
	buf.pos = start + n
	return true
}
