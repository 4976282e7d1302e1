package chatter

import (
	"crypto/tls"
	"fmt"
)

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
