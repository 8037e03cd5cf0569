package serialline

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Port is an open line: a serial port or a TCP connection to a serial server. Reads
// honour the read deadline on both (a serial port is opened non-blocking, so the Go
// runtime's poller waits for it like for a socket).
type Port interface {
	io.ReadWriteCloser
	SetReadDeadline(t time.Time) error
}

// dialTimeout bounds the TCP connection to a serial server.
const dialTimeout = 5 * time.Second

// Open opens the line l (checked by Check): the serial port, set to raw mode with the
// line's baud rate, data bits, parity and stop bits, or a TCP connection to the serial
// server. The connection attempt ends with ctx.
func Open(ctx context.Context, l Line) (Port, error) {
	switch l.Network {
	case "tcp":
		d := net.Dialer{Timeout: dialTimeout}
		c, err := d.DialContext(ctx, "tcp", l.Address)
		if err != nil {
			return nil, fmt.Errorf("connect to serial server %s: %w", l.Address, err)
		}
		return c, nil
	case "serial":
		return openSerial(l)
	}
	return nil, fmt.Errorf("open line %q: not checked (network %q)", l.Endpoint, l.Network)
}

var baudFlags = map[int]uint32{
	1200: unix.B1200, 2400: unix.B2400, 4800: unix.B4800, 9600: unix.B9600, 19200: unix.B19200,
	38400: unix.B38400, 57600: unix.B57600, 115200: unix.B115200, 230400: unix.B230400,
}

func openSerial(l Line) (Port, error) {
	baud, ok := baudFlags[l.BaudRate]
	if !ok {
		return nil, fmt.Errorf("open serial port %s: unsupported baud rate %d", l.Address, l.BaudRate)
	}
	f, err := os.OpenFile(l.Address, os.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open serial port: %w", err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open serial port %s: %w", l.Address, err)
	}
	var terr error
	cerr := rc.Control(func(fd uintptr) {
		t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			terr = fmt.Errorf("not a serial port (get termios: %w)", err)
			return
		}
		// Raw mode (cfmakeraw), no flow control, the receiver on, modem lines ignored.
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR |
			unix.ICRNL | unix.IXON | unix.IXOFF | unix.IXANY | unix.INPCK
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB | unix.PARODD | unix.CSTOPB | unix.CRTSCTS | unix.CBAUD
		t.Cflag |= unix.CREAD | unix.CLOCAL | baud
		t.Ispeed, t.Ospeed = baud, baud
		if l.DataBits == 7 {
			t.Cflag |= unix.CS7
		} else {
			t.Cflag |= unix.CS8
		}
		if l.StopBits == 2 {
			t.Cflag |= unix.CSTOPB
		}
		switch l.Parity {
		case "even":
			t.Cflag |= unix.PARENB
			t.Iflag |= unix.INPCK
		case "odd":
			t.Cflag |= unix.PARENB | unix.PARODD
			t.Iflag |= unix.INPCK
		}
		t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
		if err := unix.IoctlSetTermios(int(fd), unix.TCSETS, t); err != nil {
			terr = fmt.Errorf("set termios: %w", err)
			return
		}
		_ = unix.IoctlSetInt(int(fd), unix.TCFLSH, unix.TCIOFLUSH) // stale bytes of a previous user
	})
	if cerr == nil {
		cerr = terr
	}
	if cerr != nil {
		f.Close()
		return nil, fmt.Errorf("open serial port %s: %w", l.Address, cerr)
	}
	return f, nil
}
