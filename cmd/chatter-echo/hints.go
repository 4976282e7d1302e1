package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// What usually goes wrong between hat components is a mismatch of
// configuration, and the errors it causes name its symptom: a peer that
// closes at once, a frame that does not decode. hint names the likely
// cause.

// hintedError is an error with what its context suggests about it.
type hintedError struct {
	err  error
	hint string
}

func (e *hintedError) Error() string { return e.err.Error() }
func (e *hintedError) Unwrap() error { return e.err }

// hint suggests what is likely wrong when err ends a command, or "".
func hint(err error) string {
	var h *hintedError
	var wm *chatter.WireMismatchError
	var rh tls.RecordHeaderError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var cv *tls.CertificateVerificationError
	switch {
	case errors.As(err, &h):
		return h.hint
	case errors.As(err, &wm):
		return fmt.Sprintf("the peer speaks the %s hat wire: use -wire %s", wm.Peer, wm.Peer)
	case errors.As(err, &rh):
		return "the peer does not answer in TLS: if it is a plain Chatter server, use a tcp+sbs:// address"
	case errors.As(err, &hn):
		return "the server's certificate is for another name: give -servername, or connect by that name"
	case errors.As(err, &ua), errors.As(err, &cv):
		return "the server's certificate is not signed by a CA known here: give -cacert, or -insecure for the original's unverified mode"
	case strings.Contains(err.Error(), "certificate required"):
		// TLS 1.3: the server's refusal comes as an alert after the
		// handshake seemed to succeed.
		return "the server wants a client certificate: give -pem, or -cert and -key, signed by a CA it trusts"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "nothing listens there"
	case strings.Contains(err.Error(), "TLS handshake") && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)):
		return "the server closed the connection during the TLS handshake: it may not speak TLS (a tcp+sbs:// address), " +
			"or it wants a client certificate (-pem, or -cert and -key)"
	}
	return ""
}

// connHint adds to err, which ended c, what c's counters tell about it.
func connHint(c *chatter.Conn, err error) error {
	if err == nil || hint(err) != "" {
		return err
	}
	st := c.Stats()
	switch {
	case st.BytesIn == 0 && (errors.Is(err, chatter.ErrPeerClosed) || errors.Is(err, syscall.ECONNRESET)):
		return &hintedError{err, "the peer closed the connection before sending anything: it may expect TLS " +
			"(an ssl+sbs:// address), the other wire generation (-wire), or refuse this client"}
	case st.MessagesIn == 0 && (errors.Is(err, chatter.ErrProtocol) || errors.Is(err, chatter.ErrMessageTooLarge)):
		return &hintedError{err, "what the peer sent is not Chatter of this generation: if it speaks TLS, use " +
			"an ssl+sbs:// address; otherwise try the other -wire"}
	}
	return err
}
