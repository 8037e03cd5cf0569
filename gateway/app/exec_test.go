package app_test

import "os/exec"

var (
	lookPath    = exec.LookPath
	execCommand = exec.Command
)
