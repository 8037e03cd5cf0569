// Copyright 2018-2020 opcua authors. All rights reserved.
// Use of this source code is governed by a MIT-style license that can be
// found in the LICENSE file.

// Patch (not in upstream v0.8.0): bounds on what a peer can make the decoder
// allocate or recurse into. See PATCHES.md at the root of this module.

package ua

import (
	"fmt"
)

// MaxNestingDepth bounds how deeply Variants, DataValues, DiagnosticInfos and
// ExtensionObjects may nest inside one another in one message. Each level of nesting
// costs one byte on the wire but several stack frames in the decoder: without a bound
// a message of a few megabytes of nested Variants exhausts the goroutine stack, which
// is a fatal error, not a panic. OPC 10000-6 §5.2.2 lets a decoder refuse deeper
// nesting than it supports; 100 is what the specification's reference stacks use.
const MaxNestingDepth = 100

// depthDecoder is implemented by the types that can contain themselves, directly or
// through an ExtensionObject. decodeDepth decodes the value at the given depth (1 for
// a value that is not nested in another of these types).
type depthDecoder interface {
	decodeDepth(b []byte, depth int) (int, error)
}

// errNesting is returned for a value nested deeper than MaxNestingDepth.
func errNesting(depth int) error {
	return fmt.Errorf("nesting depth %d exceeds %d: %w", depth, MaxNestingDepth, StatusBadEncodingLimitsExceeded)
}

// errArrayLength is returned for an array that announces more elements than bytes
// remain in the message.
func errArrayLength(n uint32, left int) error {
	return fmt.Errorf("array length %d exceeds the %d bytes left in the message: %w", n, left, StatusBadEncodingLimitsExceeded)
}
