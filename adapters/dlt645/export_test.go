package dlt645

// SetTestHookDecode sets the hook called before each reply is decoded; nil removes it.
func SetTestHookDecode(f func(device string)) { testHookDecode = f }
