// Package influx is the gateway's northbound TSDB writer: it sends blocks of line
// protocol to the InfluxDB v2 write API (POST /api/v2/write) of InfluxDB 2.x, InfluxDB
// 1.8 or VictoriaMetrics, through the HTTP service of influxdb-client-go.
//
// # One write, classified
//
// The pipeline owns batching, queueing and retries; a Sink performs exactly one request
// per Write and tells the caller what to do with the block:
//
//   - nil: the server answered 2xx; acknowledge the block.
//   - errors.Is(err, ErrPermanent): the server rejected the request (HTTP 4xx other than
//     408 and 429: malformed line protocol, unknown database, bad credentials, body too
//     large). Sending it again cannot succeed: drop the block and count it. The error
//     also wraps a *StatusError with the status code and the server's message, cut to
//     512 bytes.
//   - anything else is retryable: 408, 429 and 5xx (*StatusError), connection and TLS
//     errors, the request timeout, and ctx's own error when ctx ends (errors.Is
//     context.Canceled / DeadlineExceeded). If the server sent Retry-After (seconds or an
//     HTTP date), the error implements RetryAfterError; the pipeline waits at least that
//     long.
//
// Note that 401, 403 and 404 are permanent, so a wrong token or a database that does not
// exist yet loses every block until fixed; a missing InfluxDB 1.8 retention policy is
// reported by the server as 500 and therefore retried.
//
// The client's write API is not used: it would copy each block into a string, allocate
// a new ~800 KB gzip writer and start a goroutine per request, and stream the body
// without a Content-Length. Write instead posts the block itself to the same endpoint
// with the same parameters (org, bucket, precision=ns), never batches or retries, and
// returns only after the HTTP transport has released the request body, so the caller may
// reuse the block's buffer at once.
//
// # Compression
//
// With Gzip on (the default), each block is compressed with a pooled gzip writer at
// BestSpeed and sent with Content-Encoding: gzip and an exact Content-Length. Line
// protocol shrinks to about 6 % of its size; DefaultCompression gains well under one
// percentage point for 2.5 times the CPU. InfluxDB and VictoriaMetrics accept gzip bodies.
//
// # Secrets
//
// The token is sent only as "Authorization: Token <token>". It is never logged, and it
// (for a "user:password" token, the password) is replaced by "xxxxx" in every error the
// sink returns, including server messages that echo it.
//
// # Compatibility
//
//   - InfluxDB 2.x: Org and Bucket as created there, Token an API token.
//   - InfluxDB 1.8 (/api/v2/write compatibility endpoint): the bucket is the database,
//     "db/rp" or just "db" for its default retention policy; Org is ignored; Token is
//     "user:password", or empty without authentication. The database must exist
//     (CREATE DATABASE): otherwise every write fails permanently with
//     `status 404: database not found: "db"`. A block with some unparsable lines is
//     stored partially and rejected with `400 partial write: ...`, which is permanent.
//   - VictoriaMetrics: Org, Bucket and Token are accepted and ignored (unless a proxy in
//     front checks the token). Each field becomes a series named
//     <measurement>_<field> with the tags as labels (workshop_kpi_cnc_rate{...}).
//     Lines it cannot parse are skipped and logged on the server while the request
//     still succeeds with 204: the sink cannot see them, so encoding must be right
//     (point.AppendLine guarantees it).
//   - Field values must be numeric: VictoriaMetrics stores a string field as 0 and
//     InfluxDB rejects a field whose type changes. point.AppendLine writes floats only,
//     and quality as a separate numeric field "<field>_quality" (1 uncertain, 2 bad).
//   - Timestamps are nanoseconds (precision=ns), as point.AppendLine writes them;
//     VictoriaMetrics keeps milliseconds.
//   - Ping uses GET <url>/ping, which all three serve, and after a 4xx status
//     GET /health at the root of the same host and port: a VictoriaMetrics cluster's
//     insert URL (http://vminsert:8480/insert/0/influx) has no /ping below it, and
//     vminsert serves /health at its root. The client's Health and Ready do not work
//     on InfluxDB 1.8 or VictoriaMetrics and are not used.
package influx
