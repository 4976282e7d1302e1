package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// tlsFlags configure ssl+sbs: this side's certificate, and how the peer's
// is checked.
type tlsFlags struct {
	certFiles  // -pem, or -cert and -key
	cacert     string
	serverName string
	insecure   bool
}

// certFiles name a certificate and its key: one PEM file holding both, or
// two files. flag is the prefix of the flags' names ("-" for -pem, -cert
// and -key; "-upstream-" for tap's -upstream-pem ...), for errors.
type certFiles struct {
	pem       string
	cert, key string
	flag      string
}

func (c *certFiles) check() error {
	p := c.flagPrefix()
	switch {
	case (c.cert == "") != (c.key == ""):
		return fmt.Errorf("%scert and %skey go together", p, p)
	case c.pem != "" && c.cert != "":
		return fmt.Errorf("%spem or %scert/%skey, not both", p, p, p)
	}
	return nil
}

func (c *certFiles) flagPrefix() string {
	if c.flag == "" {
		return "-"
	}
	return c.flag
}

// named reports whether a certificate was named.
func (c *certFiles) named() bool { return c.pem != "" || c.cert != "" }

// certificates loads the certificate named, if any.
func (c *certFiles) certificates() ([]tls.Certificate, error) {
	p := c.flagPrefix()
	switch {
	case c.pem != "":
		kp, err := tls.LoadX509KeyPair(c.pem, c.pem)
		if err != nil {
			return nil, fmt.Errorf("%spem %s: %w", p, c.pem, err)
		}
		return []tls.Certificate{kp}, nil
	case c.cert != "":
		kp, err := tls.LoadX509KeyPair(c.cert, c.key)
		if err != nil {
			return nil, fmt.Errorf("%scert %s %skey %s: %w", p, c.cert, p, c.key, err)
		}
		return []tls.Certificate{kp}, nil
	}
	return nil, nil
}

func (f *tlsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.pem, "pem", "", "`FILE` holding this side's certificate and private key (the original's option)")
	fs.StringVar(&f.cert, "cert", "", "`FILE` holding this side's certificate (with -key)")
	fs.StringVar(&f.key, "key", "", "`FILE` holding the private key of -cert")
	fs.StringVar(&f.cacert, "cacert", "", "`FILE` of CA certificates that verify the peer: the server, or on a server the clients (mutual TLS)")
	fs.StringVar(&f.serverName, "servername", "", "`NAME` the server's certificate must have (default: the address's host)")
	fs.BoolVar(&f.insecure, "insecure", false, "do not verify the server, as the original's client does")
}

// given lists the TLS flags that were set.
func (f *tlsFlags) given() []string {
	var set []string
	for _, g := range []struct {
		name string
		on   bool
	}{{"-pem", f.pem != ""}, {"-cert", f.cert != ""}, {"-key", f.key != ""}, {"-cacert", f.cacert != ""},
		{"-servername", f.serverName != ""}, {"-insecure", f.insecure}} {
		if g.on {
			set = append(set, g.name)
		}
	}
	return set
}

// forAddress refuses TLS flags that addr would silently ignore: any of
// them with a plain tcp+sbs address, and the client-only ones on a
// server.
func (f *tlsFlags) forAddress(addr string, server bool) error {
	if set := f.given(); len(set) > 0 && !isTLS(addr) {
		return fmt.Errorf("%s: TLS flags, but %s is a plain tcp+sbs address: use ssl+sbs:// for TLS, or drop them",
			strings.Join(set, " "), addr)
	}
	if server && (f.insecure || f.serverName != "") {
		return errors.New("-insecure and -servername are for clients: a server verifies clients with -cacert")
	}
	return nil
}

func (f *tlsFlags) check() error {
	if err := f.certFiles.check(); err != nil {
		return err
	}
	if f.insecure && f.cacert != "" {
		return errors.New("-insecure or -cacert, not both")
	}
	return nil
}

func (f *tlsFlags) pool() (*x509.CertPool, error) {
	if f.cacert == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(f.cacert)
	if err != nil {
		return nil, fmt.Errorf("-cacert: %w", err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("-cacert %s: no PEM certificate in it", f.cacert)
	}
	return p, nil
}

// clientOption is the TLS option of a client. The server is verified —
// against -cacert, or else the system's roots — unless -insecure asks for
// the original's unverified mode. -pem alone keeps working as it always
// has (unverified, presenting the PEM file), with a warning on w.
func (f *tlsFlags) clientOption(w io.Writer) (chatter.Option, error) {
	certs, err := f.certificates()
	if err != nil {
		return nil, err
	}
	roots, err := f.pool()
	if err != nil {
		return nil, err
	}
	if f.pem != "" && roots == nil && !f.insecure {
		fmt.Fprintln(w, "chatter-echo: warning: -pem alone does not verify the server (the original's mode): add -cacert to verify it, or -insecure to say so")
		f.insecure = true
	}
	return chatter.WithTLSConfig(&tls.Config{
		Certificates:       certs,
		RootCAs:            roots,
		ServerName:         f.serverName,
		InsecureSkipVerify: f.insecure, //nolint:gosec // asked for with -insecure, the original's mode
	}), nil
}

// serverOption is the TLS option of a server: its certificate, and with
// -cacert, clients must present one signed by those CAs.
func (f *tlsFlags) serverOption() (chatter.Option, error) {
	certs, err := f.certificates()
	if err != nil {
		return nil, err
	}
	if certs == nil {
		return nil, errors.New("an ssl+sbs server needs -pem or -cert and -key")
	}
	cfg := &tls.Config{Certificates: certs}
	if cfg.ClientCAs, err = f.pool(); err != nil {
		return nil, err
	}
	if cfg.ClientCAs != nil {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return chatter.WithTLSConfig(cfg), nil
}
