package point

// Observer receives what a source reports besides data: connection state changes,
// per-signal problems and throughput. The gateway implements it once (metrics and
// throttled logs) and hands it to every source, so all sources report alike.
// Implementations must be safe for concurrent use and must not block.
type Observer interface {
	// State reports a connection state change of a source; err explains StateDown.
	State(source string, s State, err error)
	// SignalError reports a value or binding that could not be turned into a field:
	// device and signal name the binding ("" when unknown, e.g. an MQTT message on an
	// unbound topic), reason is a short bounded label (e.g. "decode", "type",
	// "node_unknown", "nan", "too_large", "unbound"), err the full description naming
	// the value.
	SignalError(source, device, signal, reason string, err error)
	// Received counts fields handed over by a source before queueing.
	Received(source string, fields int)
	// DeadLetter keeps an input that produced at least one SignalError (an MQTT
	// message, a register block) so that an engineer can see what the device sent. It is
	// called once per input, after its SignalErrors; the implementation copies payload.
	DeadLetter(source string, dl DeadLetter, payload []byte)
}

// DeadLetter describes an input a source could not fully use.
type DeadLetter struct {
	// Device is the device the input belongs to ("" when unknown, e.g. an unbound topic).
	Device string
	// Origin is where the input came from: the MQTT topic, or e.g. "unit 3 holding
	// 0..75" for a Modbus read.
	Origin string
	// Reason and Err are those of the input's first SignalError; Problems counts them.
	Reason   string
	Err      error
	Problems int
}

// ReasonInternal is the SignalError reason of a panic raised while a source handled
// one input: the input is dropped (and acknowledged), the source carries on.
const ReasonInternal = "internal"

// Reasons of a failed connection attempt (ganlink_source_connect_failures_total), shared
// by the adapters that classify their connection errors; anything else is "other".
const (
	FailureUntrustedCertificate = "untrusted_certificate" // the gateway does not trust the server's certificate
	FailureSecurityRejected     = "security_rejected"     // the server refused the gateway's certificate or security
	FailureLoginRefused         = "login_refused"         // user name, password or user certificate refused
	FailureNoEndpoint           = "no_endpoint"           // nothing fits the configured security and login
	FailureMalformedMessage     = "malformed_message"     // the peer sent what its protocol does not allow
)

// NopObserver discards all reports.
type NopObserver struct{}

// State implements Observer.
func (NopObserver) State(string, State, error) {}

// SignalError implements Observer.
func (NopObserver) SignalError(string, string, string, string, error) {}

// Received implements Observer.
func (NopObserver) Received(string, int) {}

// DeadLetter implements Observer.
func (NopObserver) DeadLetter(string, DeadLetter, []byte) {}
