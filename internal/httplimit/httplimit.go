// Package httplimit makes net/http's limit on a request head exact, for the gateway's
// admin server and the aggregator API.
//
// http.Server reads up to MaxHeaderBytes + 4096 bytes ("bufio slop") of a request head
// (request line, header lines and the blank line that ends them) before it answers
// "431 Request Header Fields Too Large", so a documented 16 KiB limit set directly
// lets heads of 20 KiB through. HeaderBytes returns the MaxHeaderBytes under which a
// head of at most limit bytes is read and one of limit + 1 bytes or more gets 431
// (for every request a client sends after the previous response; a client that
// pipelines requests may have a few more bytes of a following request read early).
package httplimit

// slop is what net/http reads beyond Server.MaxHeaderBytes
// (net/http.Server.initialReadLimitSize).
const slop = 4096

// MinHeadBytes is the smallest head limit HeaderBytes can enforce exactly.
const MinHeadBytes = slop + 1

// HeaderBytes returns the http.Server.MaxHeaderBytes that limits request heads to
// limit bytes; a limit below MinHeadBytes is raised to it.
func HeaderBytes(limit int) int {
	return max(limit, MinHeadBytes) - slop
}
