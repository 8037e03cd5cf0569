// Copyright 2018-2020 opcua authors. All rights reserved.
// Use of this source code is governed by a MIT-style license that can be
// found in the LICENSE file.

// Patch (not in upstream v0.8.0): bounds on what a peer can make the decoder
// allocate or recurse into. See PATCHES.md at the root of this module.

package ua

import (
	"fmt"
	"reflect"
)

// MaxNestingDepth bounds how deeply Variants, DataValues, DiagnosticInfos and
// ExtensionObjects may nest inside one another in one message. Each level of nesting
// costs one byte on the wire but several stack frames in the decoder: without a bound
// a message of a few megabytes of nested Variants exhausts the goroutine stack, which
// is a fatal error, not a panic. OPC 10000-6 §5.2.2 lets a decoder refuse deeper
// nesting than it supports; 100 is what the specification's reference stacks use.
const MaxNestingDepth = 100

// depthDecoder is implemented by the types that can contain themselves, directly or
// through an ExtensionObject. decodeDepth decodes the value at the given depth (level 1
// for a value that is not nested in another of these types).
type depthDecoder interface {
	decodeDepth(b []byte, depth nest) (int, error)
}

// AllocFactor bounds what decoding one message may allocate for the slices and
// structures it creates: AllocFactor times the size of the message, plus 64 KiB. The
// arrays a message announces are bounded by its bytes, but one byte on the wire can
// become more than a hundred bytes of Go values (an empty DataValue in a slice of
// pointers, a null Variant): without a budget a 2 MiB message of empty DataValues
// allocated 336 MiB. Real messages stay far below: a publish response needs about 10
// bytes of Go values per byte.
const AllocFactor = 32

// nest is the nesting level of the value being decoded and the allocation budget of
// the message it belongs to, shared by every value decoded from that message.
type nest struct {
	level  int
	budget *budget
}

type budget struct{ left, size int64 }

// newBudget is the allocation budget of a message of n bytes.
func newBudget(n int) *budget {
	return &budget{left: int64(n)*AllocFactor + 64<<10, size: int64(n)}
}

// outermost is the nest of a value decoded on its own from n bytes.
func outermost(n int) nest { return nest{level: 1, budget: newBudget(n)} }

// inner is the nest of a value nested in this one.
func (d nest) inner() nest { return nest{level: d.level + 1, budget: d.budget} }

// withBudget gives d a budget for n bytes when it has none (a value decoded through a
// path that did not start at Decode).
func (d nest) withBudget(n int) nest {
	if d.budget == nil {
		d.budget = newBudget(n)
	}
	return d
}

// spend charges n bytes to the budget; without a budget nothing is charged.
func (d nest) spend(n int64) error {
	if d.budget == nil {
		return nil
	}
	d.budget.left -= n
	if d.budget.left < 0 {
		return fmt.Errorf("decoding a message of %d bytes needs more than %d times its size in memory: %w",
			d.budget.size, AllocFactor, StatusBadEncodingLimitsExceeded)
	}
	return nil
}

// elemCost is what one element of a slice of t costs: the element, and the value it
// points to for a pointer.
func elemCost(t reflect.Type) int64 {
	n := int64(t.Size())
	if t.Kind() == reflect.Ptr {
		n += int64(t.Elem().Size())
	}
	return n
}

// variantSize is the size of the Variant a DataValue always allocates.
var variantSize = int64(reflect.TypeOf(Variant{}).Size())

// errNesting is returned for a value nested deeper than MaxNestingDepth.
func errNesting(depth int) error {
	return fmt.Errorf("nesting depth %d exceeds %d: %w", depth, MaxNestingDepth, StatusBadEncodingLimitsExceeded)
}

// errArrayLength is returned for an array that announces more elements than bytes
// remain in the message.
func errArrayLength(n uint32, left int) error {
	return fmt.Errorf("array length %d exceeds the %d bytes left in the message: %w", n, left, StatusBadEncodingLimitsExceeded)
}
