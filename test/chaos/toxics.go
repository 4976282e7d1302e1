package chaos

import "fmt"

// Directions of a link, in toxiproxy's words: upstream is what the client
// sends to the server, downstream what the server sends back.
const (
	Up   = "upstream"
	Down = "downstream"
)

// Toxic is one fault toxiproxy applies to a direction of a link.
//
// Breaking toxics end or damage the byte stream (a cut, a reset, a black
// hole that swallows bytes); a connection that lives through one may lose
// what it had in flight. The others only delay or slice bytes, and a
// connection under them must lose nothing.
type Toxic struct {
	Name     string
	Type     string
	Stream   string
	Attrs    map[string]int64
	Breaking bool
}

func (t Toxic) String() string { return fmt.Sprintf("%s(%s %v)", t.Type, t.Stream, t.Attrs) }

func toxic(typ, stream string, breaking bool, attrs map[string]int64) Toxic {
	return Toxic{Name: typ + "_" + stream, Type: typ, Stream: stream, Attrs: attrs, Breaking: breaking}
}

// Latency delays every chunk by ms milliseconds, give or take jitter.
func Latency(stream string, ms, jitter int64) Toxic {
	return toxic("latency", stream, false, map[string]int64{"latency": ms, "jitter": jitter})
}

// Bandwidth limits the direction to kbytes kilobytes a second.
func Bandwidth(stream string, kbytes int64) Toxic {
	return toxic("bandwidth", stream, false, map[string]int64{"rate": kbytes})
}

// Slicer cuts every chunk into pieces of about avg bytes (give or take
// variation), with delay microseconds between them.
func Slicer(stream string, avg, variation, delay int64) Toxic {
	return toxic("slicer", stream, false, map[string]int64{"average_size": avg, "size_variation": variation, "delay": delay})
}

// BlackHole swallows every byte and sends no FIN: toxiproxy's timeout
// toxic with no timeout.
func BlackHole(stream string) Toxic {
	return toxic("timeout", stream, true, map[string]int64{"timeout": 0})
}

// ResetPeer takes the first chunk that passes after it is in place, waits
// ms milliseconds and resets the connection (RST, when the toxic was there
// when the connection started: toxiproxy sets SO_LINGER 0 then).
func ResetPeer(stream string, ms int64) Toxic {
	return toxic("reset_peer", stream, true, map[string]int64{"timeout": ms})
}

// LimitData lets n bytes through and then closes the direction: a cut
// that can fall in the middle of a frame.
func LimitData(stream string, n int64) Toxic {
	return toxic("limit_data", stream, true, map[string]int64{"bytes": n})
}

// SlowClose delays the close of the direction by ms milliseconds.
func SlowClose(stream string, ms int64) Toxic {
	return toxic("slow_close", stream, false, map[string]int64{"delay": ms})
}
