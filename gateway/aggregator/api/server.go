package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/ganlink/ganlink/internal/httplimit"
)

// ServerOptions are the HTTP server's timeouts and limits.
type ServerOptions struct {
	ReadHeaderTimeout time.Duration // default 5s
	ReadTimeout       time.Duration // default 10s
	WriteTimeout      time.Duration // default 90s (above the request timeout)
	IdleTimeout       time.Duration // default 2m
	MaxHeaderBytes    int           // request head (request line, headers): default 16 KiB, more gets 431
	ShutdownTimeout   time.Duration // default 10s
}

// Server serves a handler on a bound listener.
type Server struct {
	ln  net.Listener
	srv *http.Server
	opt ServerOptions
	log *slog.Logger
}

// Listen binds addr; Run serves. It starts no goroutine.
func Listen(addr string, h http.Handler, opt ServerOptions, log *slog.Logger) (*Server, error) {
	if opt.ReadHeaderTimeout <= 0 {
		opt.ReadHeaderTimeout = 5 * time.Second
	}
	if opt.ReadTimeout <= 0 {
		opt.ReadTimeout = 10 * time.Second
	}
	if opt.WriteTimeout <= 0 {
		opt.WriteTimeout = 90 * time.Second
	}
	if opt.IdleTimeout <= 0 {
		opt.IdleTimeout = 2 * time.Minute
	}
	if opt.MaxHeaderBytes <= 0 {
		opt.MaxHeaderBytes = 16 << 10
	}
	if opt.ShutdownTimeout <= 0 {
		opt.ShutdownTimeout = 10 * time.Second
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %q: %w", addr, err)
	}
	return &Server{ln: ln, opt: opt, log: log, srv: &http.Server{Handler: h,
		ReadHeaderTimeout: opt.ReadHeaderTimeout, ReadTimeout: opt.ReadTimeout, WriteTimeout: opt.WriteTimeout,
		IdleTimeout: opt.IdleTimeout, MaxHeaderBytes: httplimit.HeaderBytes(opt.MaxHeaderBytes),
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}}, nil
}

// Addr returns the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Run serves until ctx ends, then shuts down gracefully (in-flight requests get
// ShutdownTimeout) and returns after the server has stopped.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	s.log.Info("api listening", "addr", s.ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("serve api: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opt.ShutdownTimeout)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if err != nil {
		_ = s.srv.Close() // in-flight requests outlived the timeout
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("shut down api: %w", err)
	}
	return nil
}
