// Package corrections keeps the corrections an engineer records on a gateway
// (docs/corrections.md): windows of a device or of the whole workshop marked invalid,
// and counter replacements the gateway could not see. No figure already written is
// ever edited: a correction is written once to the TSDB as a kpi_correction point
// (schema.Correction) through the sink queues, and a revocation as a second point with
// FieldActive 0; the aggregator leaves out the windows they cover. A replacement is
// also applied to the KPI engine's counter model (kpi.Engine.Replace).
//
// # Store format
//
// The store is one append-only file of JSON lines, corrections.jsonl in the gateway's
// data directory. Each line is one record:
//
//	{"op":"add","id":"c-0f3a…","kind":"invalid","device":"press-1","from":"…","until":"…","by":"alice","reason":"calibration","recorded":"…"}
//	{"op":"add","id":"c-…","kind":"replacement","device":"em1","signal":"energy_kwh_total","from":T,"until":T,…}
//	{"op":"revoke","id":"c-0f3a…","by":"bob","reason":"wrong device","recorded":"…"}
//	{"op":"written","id":"c-0f3a…","point":"add","recorded":"…"}
//
// Times are RFC 3339 in UTC. "written" records that the record's kpi_correction point
// is in the sink queues (from there the queue's store-and-forward delivers it): a
// record without it is written at the next start. A crash between queueing the point
// and appending "written" writes the point twice, with the same series and timestamp:
// the TSDB keeps one value.
//
// # Durability and damage
//
// Every record is appended with one write and the file is fsync'd before the call
// returns: a correction the API or the command confirmed survives a power cut. A line
// that does not decode is reported (Open's problems) and skipped, never a refusal to
// start: a final line without its newline (a write torn by a crash) is cut off the file
// before the next append, a damaged line in the middle stays in the file and is skipped
// at every open. The file is locked (flock) while a Store has it open, so the command
// cannot write it behind a running gateway's back.
//
// # Limits
//
// MaxCorrections corrections (adds) per store, reason at most MaxReason runes, who at
// most MaxBy runes, the file at most MaxFileBytes; ids, device and signal names at most
// MaxName bytes. Each refusal is an *Error with a bounded Reason (the label of
// ganlink_corrections_refused_total) and a message naming the field and the value.
package corrections
