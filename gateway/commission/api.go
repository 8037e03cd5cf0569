// Package commission serves the commissioning API of the admin server, under
// /api/commission/: browsing an OPC UA server (with the certificate trust flow),
// sniffing an MQTT broker's topics, scanning a Modbus bus, reading a device's signals
// once through the real adapter, and suggesting KPI roles from OPC 40501 browse names
// (docs/admin-api.openapi.yaml describes the requests and answers).
//
// The package owns the HTTP side: decoding and checking request bodies, the bounds
// every call has, one operation per source at a time, the JSON errors and their
// statuses, and the ganlink_commission_requests_total counter. The protocol work is a
// Backend's, which the composition root (gateway/app) builds from the running
// configuration and the adapters: this package imports no adapter.
//
// Bounds (each a constant below):
//   - time: every operation runs under a context deadline, "timeout" in the body
//     (a duration such as "20s"), default DefaultTimeout, at most MaxTimeout; the
//     response's write deadline is extended to match;
//   - size: request bodies at most MaxBodyBytes; OPC UA browse at most max_nodes nodes
//     (default DefaultMaxNodes, at most MaxMaxNodes) and depth at most MaxDepth; MQTT
//     sniff at most MaxSniffSeconds seconds and MaxSniffTopics topics, samples cut at
//     MaxSampleBytes and at most MaxPaths paths per sample; a Modbus scan at most
//     MaxScanUnits unit ids;
//   - concurrency: one operation per source (a configured source's name, or the
//     endpoint or broker of a new one) at a time, 429 otherwise, and at most
//     MaxConcurrent operations in all.
//
// Authentication, roles and CSRF are the admin server's (gateway/admin): it protects
// every path under /api/commission/ for the engineer role.
package commission

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Bounds of the commissioning calls.
const (
	DefaultTimeout  = 10 * time.Second
	MaxTimeout      = 60 * time.Second
	MaxBodyBytes    = 1 << 20
	DefaultMaxNodes = 500
	MaxMaxNodes     = 5000
	DefaultDepth    = 1
	MaxDepth        = 10
	DefaultSniff    = 5
	MaxSniffSeconds = 30
	MaxSniffTopics  = 1000
	MaxSampleBytes  = 4 << 10
	MaxPaths        = 100
	MaxScanUnits    = 256
	MaxReadSignals  = 1000
	MaxConcurrent   = 4
)

// Backend does the protocol work of the commissioning calls. Every method runs under
// the request's deadline (ctx) and returns, for a failure, an *Error (its status and
// message are the answer's) or any other error (a 502 naming it; 504 when ctx's
// deadline passed).
type Backend interface {
	BrowseOPCUA(ctx context.Context, req *BrowseRequest) (*BrowseResponse, error)
	// Trust moves the rejected server certificate with the thumbprint into trusted/
	// and returns the trusted file.
	Trust(ctx context.Context, thumbprint string) (string, error)
	SniffMQTT(ctx context.Context, req *SniffRequest) (*SniffResponse, error)
	ScanModbus(ctx context.Context, req *ScanRequest) (*ScanResponse, error)
	Read(ctx context.Context, req *ReadRequest) (*ReadResponse, error)
	Suggest(req *SuggestRequest) (*SuggestResponse, error)
}

// BrowseRequest is the body of POST /api/commission/opcua/browse: a configured source
// by name, or a new endpoint with its security and credentials.
type BrowseRequest struct {
	Source         string `json:"source,omitempty"`
	Endpoint       string `json:"endpoint,omitempty"`
	SecurityPolicy string `json:"security_policy,omitempty"`
	SecurityMode   string `json:"security_mode,omitempty"`
	Username       string `json:"username,omitempty"`
	Password       string `json:"password,omitempty"`
	// Node is the node id to browse from (default i=85, the Objects folder); Depth the
	// levels below it (default 1); Match a glob on browse names; MaxNodes the bound.
	Node     string `json:"node,omitempty"`
	Depth    *int   `json:"depth,omitempty"`
	Match    string `json:"match,omitempty"`
	MaxNodes int    `json:"max_nodes,omitempty"`
	Timeout  string `json:"timeout,omitempty"`
}

// BrowseNode is one node of a browse answer.
type BrowseNode struct {
	NodeID        string     `json:"node_id"`
	BrowseName    string     `json:"browse_name"`
	DisplayName   string     `json:"display_name"`
	NodeClass     string     `json:"node_class"`
	DataType      string     `json:"data_type"`
	Value         string     `json:"value"`
	Status        string     `json:"status"`
	SourceTime    *time.Time `json:"source_time"`
	HasChildren   bool       `json:"has_children"`
	BrowsePath    string     `json:"browse_path"`
	SuggestedRole string     `json:"suggested_role"`
	// Parent is the node id of the node above (added: the list is flat).
	Parent string `json:"parent"`
}

// BrowseResponse is the answer of a browse.
type BrowseResponse struct {
	// Start is the node browsed from and BrowseStart the browse_start the browse paths
	// need ("" when they start at the Objects folder).
	Start       string       `json:"start"`
	BrowseStart string       `json:"browse_start"`
	Security    string       `json:"security"`
	Nodes       []BrowseNode `json:"nodes"`
	Truncated   bool         `json:"truncated"`
}

// Certificate describes a server certificate the gateway does not trust (409).
type Certificate struct {
	Thumbprint     string    `json:"thumbprint"`
	Subject        string    `json:"subject"`
	ApplicationURI string    `json:"application_uri,omitempty"`
	NotAfter       time.Time `json:"not_after"`
	File           string    `json:"file"`
}

// TrustRequest is the body of POST /api/commission/pki/trust.
type TrustRequest struct {
	Thumbprint string `json:"thumbprint"`
}

// SniffRequest is the body of POST /api/commission/mqtt/sniff.
type SniffRequest struct {
	Source   string `json:"source,omitempty"`
	Broker   string `json:"broker,omitempty"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	Filter   string `json:"filter,omitempty"`
	Seconds  int    `json:"seconds,omitempty"`
}

// PathValue is one JSON path of a sample payload, in the MQTT source's path grammar.
type PathValue struct {
	Path  string `json:"path"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// Topic is one topic seen by a sniff.
type Topic struct {
	Topic    string    `json:"topic"`
	Messages int       `json:"messages"`
	LastSeen time.Time `json:"last_seen"`
	Sample   string    `json:"sample"`
	// SampleTruncated reports that Sample was cut at MaxSampleBytes (added).
	SampleTruncated bool `json:"sample_truncated"`
	// Format is "json", "number" or "text" (added); Error says why a payload that looks
	// like JSON is not (added).
	Format string      `json:"format"`
	Error  string      `json:"error,omitempty"`
	Paths  []PathValue `json:"paths"`
}

// SniffResponse is the answer of a sniff.
type SniffResponse struct {
	Topics []Topic `json:"topics"`
	// Truncated reports that more than MaxSniffTopics topics were seen (added).
	Truncated bool `json:"truncated"`
}

// ScanRequest is the body of POST /api/commission/modbus/scan: a Modbus scan, or with
// Protocol "dlt645" the DL/T 645-2007 meter discovery of `gateway browse -protocol
// dlt645` (Addresses: the meters to probe; none: the broadcast read of the address,
// one meter on the bus).
type ScanRequest struct {
	Protocol  string   `json:"protocol,omitempty"`
	Addresses []string `json:"addresses,omitempty"`
	Source    string   `json:"source,omitempty"`
	Endpoint  string   `json:"endpoint,omitempty"`
	Framing   string   `json:"framing,omitempty"`
	BaudRate  int      `json:"baud_rate,omitempty"`
	Parity    string   `json:"parity,omitempty"`
	DataBits  int      `json:"data_bits,omitempty"`
	StopBits  int      `json:"stop_bits,omitempty"`
	// Units is "FIRST-LAST" or one id; default 1-247.
	Units string `json:"units,omitempty"`
	// UnitTimeout is the response timeout of each unit (default 100ms).
	UnitTimeout string `json:"unit_timeout,omitempty"`
	Timeout     string `json:"timeout,omitempty"`
}

// ScanUnit is one unit id that answered a scan.
type ScanUnit struct {
	Unit     int     `json:"unit"`
	Answer   string  `json:"answer"`
	Garbled  bool    `json:"garbled"`
	Template string  `json:"template,omitempty"`
	Voltage  float64 `json:"voltage,omitempty"`
}

// Meter is a DL/T 645 meter found by a scan: its address, whether it was read by the
// broadcast request, the values of the data items it answered (by data identifier,
// with the item's name and unit) and the items it refused.
type Meter struct {
	Address   string      `json:"address"`
	Broadcast bool        `json:"broadcast"`
	Values    []MeterItem `json:"values"`
	Refused   []string    `json:"refused"`
}

// MeterItem is one data item a meter answered.
type MeterItem struct {
	DI    string  `json:"di"`
	Name  string  `json:"name"`
	Unit  string  `json:"unit"`
	Value float64 `json:"value"`
}

// ScanResponse is the answer of a scan: Units for Modbus, Meters for DL/T 645.
type ScanResponse struct {
	Protocol string     `json:"protocol"`
	Endpoint string     `json:"endpoint"`
	First    int        `json:"first"`
	Last     int        `json:"last"`
	Units    []ScanUnit `json:"units"`
	Meters   []Meter    `json:"meters"`
	// Complete is false when the deadline ended the scan first (Units are those found
	// until then).
	Complete bool `json:"complete"`
}

// ReadRequest is the body of POST /api/commission/read: the device as in the YAML (as
// JSON) and, for a source not configured yet, the source section.
type ReadRequest struct {
	Device  map[string]any `json:"device"`
	Source  map[string]any `json:"source,omitempty"`
	Timeout string         `json:"timeout,omitempty"`
}

// SignalRead is one signal read once.
type SignalRead struct {
	Field      string     `json:"field"`
	Value      *float64   `json:"value"`
	Quality    string     `json:"quality"`
	Status     string     `json:"status"`
	SourceTime *time.Time `json:"source_time"`
	Error      string     `json:"error"`
}

// ReadResponse is the answer of a read.
type ReadResponse struct {
	Device  string       `json:"device"`
	Signals []SignalRead `json:"signals"`
}

// SuggestNode is one node to suggest a role for.
type SuggestNode struct {
	BrowseName string `json:"browse_name"`
	BrowsePath string `json:"browse_path"`
	DataType   string `json:"data_type"`
}

// SuggestRequest is the body of POST /api/commission/suggest.
type SuggestRequest struct {
	Nodes []SuggestNode `json:"nodes"`
}

// SuggestedSignal is the suggestion for one node, in the order of the request.
type SuggestedSignal struct {
	Field   string `json:"field"`
	Role    string `json:"role"`
	Counter bool   `json:"counter"`
	Unit    string `json:"unit"`
	// BrowsePath echoes the node's (added).
	BrowsePath string `json:"browse_path"`
}

// SuggestResponse is the answer of a suggestion.
type SuggestResponse struct {
	Signals []SuggestedSignal `json:"signals"`
	Class   string            `json:"class"`
}

// Error is a failure with its HTTP status; Certificate is set for a 409 about an
// untrusted server certificate.
type Error struct {
	Status      int
	Msg         string
	Certificate *Certificate
	// Reason is the result label of the request counter (see Results).
	Reason string
}

func (e *Error) Error() string { return e.Msg }

// Errorf returns an *Error with the status; the reason label follows from it.
func Errorf(status int, format string, a ...any) *Error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, a...), Reason: reasonOf(status)}
}

// BadRequest is a 400 naming the body field at fault.
func BadRequest(field, format string, a ...any) *Error {
	return Errorf(http.StatusBadRequest, "%s: %s", field, fmt.Sprintf(format, a...))
}

// NotFound is a 404.
func NotFound(format string, a ...any) *Error { return Errorf(http.StatusNotFound, format, a...) }

// DeviceFailed is a 502: the device or server failed or refused.
func DeviceFailed(err error) *Error {
	return &Error{Status: http.StatusBadGateway, Msg: err.Error(), Reason: ResultDeviceFailed}
}

// Untrusted is a 409 about a server certificate the gateway does not trust.
func Untrusted(msg string, c *Certificate) *Error {
	return &Error{Status: http.StatusConflict, Msg: msg, Certificate: c, Reason: ResultUntrusted}
}

// The result labels of ganlink_commission_requests_total.
const (
	ResultOK           = "ok"
	ResultBadRequest   = "bad_request"
	ResultNotFound     = "not_found"
	ResultUntrusted    = "untrusted"
	ResultBusy         = "busy"
	ResultDeviceFailed = "device_failed"
	ResultTimeout      = "timeout"
	ResultError        = "error"
)

// Results lists the result labels; Operations the operation labels.
var (
	Results    = []string{ResultOK, ResultBadRequest, ResultNotFound, ResultUntrusted, ResultBusy, ResultDeviceFailed, ResultTimeout, ResultError}
	Operations = []string{OpBrowse, OpTrust, OpSniff, OpScan, OpRead, OpSuggest}
)

// The operation labels of ganlink_commission_requests_total.
const (
	OpBrowse  = "opcua_browse"
	OpTrust   = "pki_trust"
	OpSniff   = "mqtt_sniff"
	OpScan    = "modbus_scan"
	OpRead    = "read"
	OpSuggest = "suggest"
)

func reasonOf(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity:
		return ResultBadRequest
	case http.StatusNotFound:
		return ResultNotFound
	case http.StatusConflict:
		return ResultUntrusted
	case http.StatusTooManyRequests:
		return ResultBusy
	case http.StatusBadGateway:
		return ResultDeviceFailed
	case http.StatusGatewayTimeout:
		return ResultTimeout
	}
	return ResultError
}

// asError turns a backend error into an *Error: a deadline that passed is a 504
// naming what was being done, anything else not already an *Error a 502.
func asError(ctx context.Context, what string, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &Error{Status: http.StatusGatewayTimeout, Reason: ResultTimeout,
			Msg: fmt.Sprintf("%s: no answer within the deadline: %v", what, err)}
	}
	return &Error{Status: http.StatusBadGateway, Reason: ResultDeviceFailed, Msg: err.Error()}
}
