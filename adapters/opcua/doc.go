// Package opcua is the gateway's OPC UA source: it subscribes to variables of one OPC UA
// server (a CNC controller, a PLC, an OPC UA aggregation server) and turns every data
// change into a point of the device the variable belongs to.
//
// # Connection and reconnect
//
// A Source owns its reconnect loop; the gopcua client is created with auto-reconnect
// off, so nothing is restored behind the source's back. One connection attempt:
//
//  1. GetEndpoints on the configured URL and select the endpoint of the configured
//     security policy and mode, or with "auto" the strongest one the server offers
//     that accepts the configured login (see security.go). A server that lists no
//     endpoint for the URL (typical behind NAT or a port forward) is used only when
//     the configuration says security None and anonymous login.
//  2. For a secure endpoint (or credentials encrypted with the server's certificate),
//     check the server's certificate against the PKI directory (package pki): an
//     untrusted one is copied to rejected/ and the attempt fails with the command that
//     trusts it; the directory is read at every attempt, so trusting needs no restart.
//  3. Open the secure channel with the gateway's application instance certificate and
//     the session (anonymous, user name or user certificate) on the configured URL,
//     never on the URL the server advertises, and read the server's NamespaceArray.
//  4. Resolve "nsu=" node ids against that NamespaceArray, translate browse paths into
//     node ids (see Browse paths), create the subscriptions and the monitored items (see
//     Chunking), and report point.StateUp.
//  5. Keep publish requests outstanding and convert each publish response into one
//     Batch, handed to emit.
//
// Any session, channel or subscription failure ends the attempt: a publish or service
// call failing (the TCP connection closing shows up here at once), a bad
// StatusChangeNotification (e.g. BadTimeout when the server dropped the subscription),
// or a subscription without any publish response, not even a keep-alive, for more than
// three keep-alive periods (a hung server or a half-open connection). The source then
// deletes its subscriptions if the server still answers (bounded by a short timeout),
// closes the client, reports point.StateDown with the cause and connects again after a
// capped exponential backoff with jitter (ReconnectMin doubling up to ReconnectMax,
// each delay drawn from its upper half; reset once a session got up). Every
// subscription and monitored item is created afresh: subscriptions are not
// transferred, since servers that restarted have lost them anyway. Run itself only
// returns when its context is done; shutdown reports no StateDown.
//
// The keep-alive period aims at about 5 s (the keep-alive count is derived from the
// publishing interval), so a silent server is declared dead after about 15 s; a quiet
// subscription that still sends keep-alives is alive and its last values hold.
//
// # Items, handles and rejections
//
// The client handle of a monitored item is the item's index in Config.Items, so a
// notification maps to its item without a lookup. Items the server rejects in
// CreateMonitoredItems, items whose node the server later reports unknown
// (BadNodeIdUnknown in a notification, which also yields a Bad point), and items whose
// namespace URI is not in the NamespaceArray are reported through
// Observer.SignalError with a short reason ("node_unknown", "not_readable", "access",
// "filter", "limit", "rejected", "namespace", "browse_path") and an error naming the
// node id or browse path, the endpoint and the status, and logged; all other items keep
// flowing. They are tried again at every reconnect and every minute while connected.
//
// # Browse paths
//
// An item may name its node by browse path (Item.BrowsePath, from Item.BrowseStart,
// default the Objects folder i=85) instead of a node id: the browse names leading to it,
// for servers whose node ids differ from machine to machine or change when they restart
// (OPC UA for Machine Tools prescribes browse names, not node ids). Syntax:
//
//	path    = element *( "/" element )
//	element = [ "nsu=" URI ";" | INDEX ":" ] name
//	name    = 1*( char | "&" char )
//
// "nsu=URI;Name" gives the namespace by URI (the URI runs to the first ";"; a ";" in
// the URI is written "%3B" and a "%" "%25", in node ids too), "2:Name" by
// index (discouraged: indexes may change when the server restarts; 0, the OPC UA
// namespace, never does). A name without either takes the namespace of the element
// before it, and the first element that of the start node: "nsu=urn:x;A/B/C" is A, B and
// C in urn:x. Inside a name, "&" takes the next character literally: "&/" is a "/", "&&"
// an "&". Each step follows hierarchical references (Organizes, HasComponent,
// HasProperty, ...) forward. With the default start, a first element "Objects" in
// namespace 0 names the Objects folder itself and is skipped, so "Objects/nsu=urn:x;M1"
// and "nsu=urn:x;M1" are the same path.
//
// At every connect, and so after every reconnect, the paths are translated with
// TranslateBrowsePathsToNodeIds, in calls of at most MaxItemsPerCall paths (lowered to the
// server's MaxNodesPerTranslateBrowsePathsToNodeIds limit, halved on BadTooManyOperations);
// namespace URIs in the path are looked up in the NamespaceArray read on that connect. The
// first target the whole path reaches is monitored. A path that does not resolve (a bad
// status, no full match, an unknown namespace URI, or a server that refuses the service,
// e.g. BadServiceUnsupported) is reported with reason "browse_path" and an error naming
// the path, its start, the endpoint and the status, and retried like a rejected item;
// a retried path is translated again.
//
// # Browsing
//
// Browse connects once, walks the address space from a start node to a depth along
// hierarchical references (Objects and Variables, batched Browse and Read calls,
// continuation points followed) and reads every variable's data type, value and access
// level. BrowseResult.WriteTree prints the tree; BrowseResult.WriteConfig prints device
// YAML, recognising OPC 40501 MachineTool objects and their standard signals.
//
// # Chunking
//
// Monitored items are created in CreateMonitoredItems calls of at most MaxItemsPerCall
// items (lowered to the server's MaxMonitoredItemsPerCall operation limit when it
// publishes one, and halved when the server answers BadTooManyOperations), filling
// subscriptions of at most MaxItemsPerSubscription items and creating further
// subscriptions as needed. Up to one publish request per subscription plus one (at most
// eight) is kept outstanding.
//
// # Values, quality and timestamps
//
// Each monitored item notification becomes one point: measurement, device and the
// shared, sorted identity tags of the item, one field named after the item, and the
// time in Unix ns. One Batch holds all the points of a publish response; it and one
// field array are the only allocations per response. Observer.Received counts the
// fields before emit. emit is called once per batch and the response is acknowledged to
// the server only after it returned nil; the source does not take the next response
// meanwhile. Retrying a refusing queue, and counting what is dropped, is the pipeline's
// emit policy (gateway/pipeline), so an error from emit means ctx ended.
//
// Quality comes from the severity bits of the StatusCode: 00 Good, 01 Uncertain (value
// kept), 10 and 11 Bad. A Bad field carries no value (0, never the last good one).
// Numbers are converted with the item's Conv (scale, offset), Booleans become 0/1 and
// Strings and the text of LocalizedTexts (a state machine's CurrentState; the locale is
// ignored) go through Conv.Map. Arrays, strings without a map, null and any other type
// (ExtensionObject, DateTime, NodeId, ...) are reported with reason "type", NaN
// and ±Inf with reason "nan"; they yield no point.
//
// Timestamp "source" (the default) uses the source timestamp, else the server
// timestamp, else the gateway's clock when the response arrived; "server" uses the
// server timestamp, else the gateway's clock; "gateway" always the gateway's clock.
// Timestamps before 1970 (an unset PLC clock) count as missing.
package opcua
