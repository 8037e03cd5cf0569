// Copyright 2018-2024 opcua authors. All rights reserved.
// Use of this source code is governed by a MIT-style license that can be
// found in the LICENSE file.

// Patch (not in upstream v0.8.0): the id-name maps are built on the first call of Name.

package id

import (
	"runtime"
	"testing"
)

// The maps are not on the heap until Name is first called; then they are, and Name
// finds names in each of them.
func TestNameLazy(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if got := Name(DataChangeNotification_Encoding_DefaultBinary); got != "DataChangeNotification_Encoding_DefaultBinary" {
		t.Errorf("Name(811) = %q", got)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("the first call of Name added %d bytes to the live heap", grown)
	if grown < 500<<10 {
		t.Errorf("the first call of Name added %d bytes to the live heap: the maps were built before", grown)
	}
	for id, want := range map[uint32]string{
		Double: "Double", HasComponent: "HasComponent", BaseObjectType: "BaseObjectType",
		BaseDataVariableType: "BaseDataVariableType", Server: "Server",
		Server_NamespaceArray: "Server_NamespaceArray", Server_GetMonitoredItems: "Server_GetMonitoredItems",
		1 << 31: "2147483648",
	} {
		if got := Name(id); got != want {
			t.Errorf("Name(%d) = %q, want %q", id, got, want)
		}
	}
}
