package chatter

// TouchSupervisor calls a method of the supervisor's, which touches the
// state only the supervisor goroutine may, from the caller's goroutine.
// Under -race its check panics first; call it only then.
func TouchSupervisor(c *Conn) { c.sup.takeMail() }

// TLSClient runs a TLS client's handshake over raw as Connect does, so
// that NewConn makes of it a connection like Connect's.
var TLSClient = tlsClient
