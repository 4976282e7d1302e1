package chatter

import (
	"net"
	"strconv"
	"strings"
)

// Scheme is the transport named by an address.
type scheme uint8

const (
	schemeTCP scheme = iota + 1 // tcp+sbs: plain TCP
	schemeSSL                   // ssl+sbs: TLS over TCP
)

func (s scheme) prefix() string {
	if s == schemeSSL {
		return "ssl+sbs://"
	}
	return "tcp+sbs://"
}

// address is a parsed tcp+sbs:// or ssl+sbs:// address.
type address struct {
	scheme scheme
	host   string // without brackets
	port   int
}

// parseAddress parses SCHEME://HOST:PORT where SCHEME is tcp+sbs or
// ssl+sbs and an IPv6 HOST is bracketed.
func parseAddress(s string) (address, error) {
	var a address
	rest, ok := strings.CutPrefix(s, "tcp+sbs://")
	if ok {
		a.scheme = schemeTCP
	} else if rest, ok = strings.CutPrefix(s, "ssl+sbs://"); ok {
		a.scheme = schemeSSL
	} else {
		scheme, _, found := strings.Cut(s, "://")
		if !found {
			return a, &AddressError{s, "missing scheme (want tcp+sbs:// or ssl+sbs://)"}
		}
		return a, &AddressError{s, "unknown scheme " + strconv.Quote(scheme) + " (want tcp+sbs or ssl+sbs)"}
	}
	host, portText, err := net.SplitHostPort(rest)
	if err != nil {
		if !strings.Contains(rest, ":") {
			return a, &AddressError{s, "missing port"}
		}
		return a, &AddressError{s, "want HOST:PORT with IPv6 hosts in brackets"}
	}
	if strings.ContainsAny(host, "/?#@ ") {
		return a, &AddressError{s, "invalid host " + strconv.Quote(host)}
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return a, &AddressError{s, "invalid port " + strconv.Quote(portText)}
	}
	a.host, a.port = host, port
	return a, nil
}

func (a address) hostPort() string { return net.JoinHostPort(a.host, strconv.Itoa(a.port)) }

func (a address) String() string { return a.scheme.prefix() + a.hostPort() }

// formatAddress writes a socket address in the original's string form.
func formatAddress(s scheme, addr net.Addr) string {
	if tcp, ok := addr.(*net.TCPAddr); ok {
		host := tcp.IP.String()
		if tcp.Zone != "" {
			host += "%" + tcp.Zone
		}
		return s.prefix() + net.JoinHostPort(host, strconv.Itoa(tcp.Port))
	}
	if addr == nil {
		return s.prefix()
	}
	return s.prefix() + addr.String()
}
