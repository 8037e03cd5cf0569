package opcua

import (
	"fmt"

	"github.com/ganlink/ganlink/gateway/point"
)

// maxErrorText bounds the text of an error the source reports (to the observer, so to
// last_signal_error and /api/status, and to the log). Errors carry what a server sent:
// a string value that is not in a signal's map, the reason text of a server's ERR
// message. A 1 MiB string value would otherwise go whole into every report.
const maxErrorText = 1024

// boundedError is an error whose text is cut to maxErrorText bytes; errors.Is and As
// still see the whole chain.
type boundedError struct {
	text string
	err  error
}

func (e *boundedError) Error() string { return e.text }
func (e *boundedError) Unwrap() error { return e.err }

// bound returns err, or err with its text cut to maxErrorText bytes (at a character
// boundary, with the full length noted) when it is longer.
func bound(err error) error {
	if err == nil {
		return nil
	}
	s := err.Error()
	if len(s) <= maxErrorText {
		return err
	}
	return &boundedError{text: point.Truncate(s, maxErrorText) + fmt.Sprintf(" (%d bytes)", len(s)), err: err}
}
