package httplimit

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// ProbeHead sends, on a new connection to addr, a GET of path whose head (request
// line, Host, one padding header and the blank line) is exactly size bytes, and returns
// the response's status code. For tests of a server's head limit.
func ProbeHead(addr, path string, size int) (int, error) {
	head := "GET " + path + " HTTP/1.1\r\nHost: probe\r\nX-Pad: "
	const tail = "\r\n\r\n"
	pad := size - len(head) - len(tail)
	if pad < 1 {
		return 0, fmt.Errorf("probe head: %d bytes is too short", size)
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(head + strings.Repeat("a", pad) + tail)); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
