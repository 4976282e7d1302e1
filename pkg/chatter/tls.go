package chatter

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
)

// tlsSocket is the TCP connection under a TLS connection that Connect or
// a Server made. It is there so that the supervisor may write a lone ping
// or pong through TLS as it does on TCP (Conn.writeLone), with a short
// write deadline: crypto/tls takes a write that times out as the end of
// every later write, since part of a record may have gone out. Here the
// deadline is met below TLS instead: during a lone write, what the socket
// does not take of the record in time is kept (owed) and the record
// reported written, and every later write, the writer's or one of TLS's
// own (a key update, the close_notify alert), first sends what is owed,
// so the records stay whole and in order.
//
// Its lock is taken only by writes, which crypto/tls already makes one at
// a time, and by the holder of the writer's role: it is never contended
// in the course of a connection.
type tlsSocket struct {
	net.Conn
	mu   sync.Mutex
	lone bool   // a lone write is under way: a timeout leaves owed
	owed []byte // what a lone write left of its record
}

// newTLSSocket returns the socket that a TLS connection over raw writes
// through.
func newTLSSocket(raw net.Conn) *tlsSocket { return &tlsSocket{Conn: raw} }

// Write writes p after what is owed. During a lone write, a deadline
// that cuts it short leaves the rest owed, and p reported written.
func (s *tlsSocket) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.payLocked(); err != nil {
		if s.keeps(err) {
			s.owed = append(s.owed, p...)
			return len(p), nil
		}
		return 0, err
	}
	n, err := s.Conn.Write(p)
	if err != nil && s.keeps(err) {
		s.owed = append([]byte(nil), p[n:]...) // crypto/tls reuses p
		return len(p), nil
	}
	return n, err
}

// keeps reports whether a write that failed with err leaves its rest
// owed: only a lone write's, cut short by its deadline.
func (s *tlsSocket) keeps(err error) bool {
	return s.lone && errors.Is(err, os.ErrDeadlineExceeded)
}

// writeLone runs write, which writes a lone frame through TLS, in lone
// mode; it reports whether part of the record is owed.
func (s *tlsSocket) writeLone(write func()) (owes bool) {
	s.mu.Lock()
	s.lone = true
	s.mu.Unlock()
	write()
	s.mu.Lock()
	s.lone = false
	owes = len(s.owed) > 0
	s.mu.Unlock()
	return owes
}

// pay writes what a lone write left owed, if anything: the writer does so
// as it starts, before anything queued, and the supervisor as it flushes
// at the close.
func (s *tlsSocket) pay() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.payLocked()
}

// payLocked is pay, with mu held.
func (s *tlsSocket) payLocked() error {
	for len(s.owed) > 0 {
		n, err := s.Conn.Write(s.owed)
		s.owed = s.owed[n:]
		if err != nil {
			return err
		}
	}
	s.owed = nil
	return nil
}

// tlsClient runs a TLS client's handshake over raw, through a tlsSocket.
func tlsClient(ctx context.Context, raw net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	tc := tls.Client(newTLSSocket(raw), cfg)
	return tc, tc.HandshakeContext(ctx)
}

// socketUnder returns the socket under tc, and the tlsSocket between them
// when tc was made over one.
func socketUnder(tc *tls.Conn) (raw net.Conn, sock *tlsSocket) {
	raw = tc.NetConn()
	if s, ok := raw.(*tlsSocket); ok {
		return s.Conn, s
	}
	return raw, nil
}

// clientTLS builds the client's TLS configuration. Without WithTLSConfig it
// follows the original: present the PEM file's certificate if one is given
// and do not verify the server.
func (c *config) clientTLS(host string) (*tls.Config, error) {
	if c.tlsConfig != nil {
		cfg := c.tlsConfig.Clone()
		if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
			cfg.ServerName = host
		}
		raiseMinVersion(cfg)
		return cfg, nil
	}
	cfg := &tls.Config{
		// The original's client does not check the server's certificate.
		// This keeps interoperability with its deployments; it protects
		// against eavesdropping only, not against an active attacker.
		InsecureSkipVerify: true, //nolint:gosec // documented original behaviour
		MinVersion:         tls.VersionTLS12,
	}
	if c.pemFile != "" {
		cert, err := tls.LoadX509KeyPair(c.pemFile, c.pemFile)
		if err != nil {
			return nil, fmt.Errorf("chatter: PEM file %s: %w", c.pemFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// serverTLS builds the server's TLS configuration from WithTLSConfig or
// from the PEM file holding its certificate and key.
func (c *config) serverTLS() (*tls.Config, error) {
	if c.tlsConfig != nil {
		cfg := c.tlsConfig.Clone()
		raiseMinVersion(cfg)
		return cfg, nil
	}
	if c.pemFile == "" {
		return nil, fmt.Errorf("chatter: ssl+sbs server needs WithPEMFile or WithTLSConfig")
	}
	cert, err := tls.LoadX509KeyPair(c.pemFile, c.pemFile)
	if err != nil {
		return nil, fmt.Errorf("chatter: PEM file %s: %w", c.pemFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

func raiseMinVersion(cfg *tls.Config) {
	if cfg.MinVersion < tls.VersionTLS12 {
		cfg.MinVersion = tls.VersionTLS12
	}
}
