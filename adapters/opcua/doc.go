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
//     security policy and mode (only None is supported for now). A server that lists
//     no endpoint for the URL (typical behind NAT or a port forward) is used with
//     security None and anonymous login.
//  2. Open the secure channel and the session (anonymous or user name) on the
//     configured URL, never on the URL the server advertises, and read the server's
//     NamespaceArray.
//  3. Resolve "nsu=" node ids against that NamespaceArray, create the subscriptions and
//     the monitored items (see Chunking), and report point.StateUp.
//  4. Keep publish requests outstanding and convert each publish response into one
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
// "filter", "limit", "rejected", "namespace") and an error naming the node id, the
// endpoint and the status, and logged; all other items keep flowing. They are tried
// again at every reconnect and every minute while connected.
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
// fields before emit. When emit fails the same batch is retried with backoff (100 ms
// doubling to 5 s) until it is stored: the response is acknowledged to the server only
// then, and the source does not take the next response meanwhile. A batch still unstored
// at shutdown is reported with reason "emit".
//
// Quality comes from the severity bits of the StatusCode: 00 Good, 01 Uncertain (value
// kept), 10 and 11 Bad. A Bad field carries no value (0, never the last good one).
// Numbers are converted with the item's Conv (scale, offset), Booleans become 0/1 and
// Strings go through Conv.Map. Arrays, strings without a map, null and any other type
// (ExtensionObject, DateTime, LocalizedText, ...) are reported with reason "type", NaN
// and ±Inf with reason "nan"; they yield no point.
//
// Timestamp "source" (the default) uses the source timestamp, else the server
// timestamp, else the gateway's clock when the response arrived; "server" uses the
// server timestamp, else the gateway's clock; "gateway" always the gateway's clock.
// Timestamps before 1970 (an unset PLC clock) count as missing.
package opcua
