package chatter

// Data is a message's payload: a value of the SBS type Module.Type. Module
// is "" for the builtin types (Boolean, Integer, Float, String, Bytes,
// None), which the legacy wire writes as Maybe's Nothing.
//
// Data holds one of:
//   - a value of the sbs package's dynamic model (int64, string, []byte,
//     map[string]any for a Tuple, sbs.Union, ...), encoded with the
//     connection's repository;
//   - a Go struct, or a pointer, slice, array or map of structs or of
//     scalars ([][]string for Array(Array(String)), map[string]int64 for
//     a Tuple of Integers), bound to the schema type by sbs's bindings
//     (checked on first use, cached): Data: &order;
//   - a [RawPayload], bytes already encoded, sent as they are;
//   - a value with an AppendSBS(dst []byte) ([]byte, error) method, such as
//     a type written by cmd/sbs-gen, which encodes itself.
//
// On receipt Data holds the dynamic model's value; [Decode] reads a
// message into a Go value instead.
type Data struct {
	Module string
	Type   string
	Data   any
}

// Conversation identifies a conversation on a connection: the id of its
// first message and whether this side started it. It is comparable and can
// be used as a map key.
type Conversation struct {
	Conn    *Conn
	Owner   bool
	FirstID int64
}

// Msg is a received message.
type Msg struct {
	Data Data
	Conv Conversation
	// First is set on the message that started its conversation.
	First bool
	// Last is set when the sender ended the conversation with this message.
	Last bool
	// Token is set when the sender handed the turn to this side.
	Token bool
	// Late marks a reply to a [Conn.Request] that had given up (its ctx
	// ended) before the reply came, which is therefore delivered here
	// instead; [WithDropLateReplies] drops such replies instead, counting
	// them in Stats.LateReplies either way. Only the first message of the
	// conversation is the reply, and only the last 1024 Requests that gave
	// up are remembered: a reply to an older one arrives unmarked.
	Late bool
	// bufGen is buf's generation when this message was read into it (see
	// Release); it sits here, beside the flags, where it costs no space.
	bufGen uint32
	// Raw is the payload as it came off the wire. It is set on every
	// message of a connection made WithRawPayloads (Data.Data is then nil),
	// on every message of a composite type (Tuple, Union, Array), which
	// Decode then reads without encoding Data.Data again, and on messages
	// delivered with DecodeErr; it is nil for other scalar payloads. The
	// application may keep it, and append to it: small payloads are copied
	// side by side into one allocation (so keeping one keeps at most 1 KiB
	// alive), but each one's capacity ends with it.
	Raw RawPayload
	// DecodeErr is set, on the current wire only, when the payload's type
	// is not in the repository or the payload does not decode with it. The
	// message is still delivered, with Raw holding the payload, because the
	// current generation never interprets payloads (the legacy wire closes
	// the connection instead).
	DecodeErr error

	// buf is the buffer of a large frame that Raw and a Bytes Data.Data
	// alias; see Release.
	buf *frameBuf
}

// RawPayload is a payload already encoded in SBS. Sent as Data.Data, it
// goes on the wire as it is, with no repository look-up; it is also what
// Msg.Raw holds on receipt.
type RawPayload []byte

// sbsAppender is implemented by values that encode themselves, such as
// types written by sbs-gen.
type sbsAppender interface {
	AppendSBS(dst []byte) ([]byte, error)
}

// TypedPayload is a value that encodes itself and names its SBS type:
// every type sbs-gen writes for a schema definition, and sbs.BoundValue.
// [DataOf] labels a message with that name, and Send refuses the value
// under any other label (a [*TypeMismatchError]).
type TypedPayload interface {
	AppendSBS(dst []byte) ([]byte, error)
	SBSType() (module, name string)
}

// sbsNamed is a value (or a pointer to decode into) that names its SBS type.
type sbsNamed interface {
	SBSType() (module, name string)
}

// DataOf returns the Data that carries v, labelled with v's own SBS type:
//
//	conn.Send(ctx, chatter.DataOf(&point))
//
// rather than chatter.Data{Module: "Telemetry", Type: "Point", Data: &point}.
func DataOf(v TypedPayload) Data {
	module, name := v.SBSType()
	return Data{Module: module, Type: name, Data: v}
}

// checkLabel returns a *TypeMismatchError when v, which names its SBS
// type, is not of the type data is labelled with. Names are compared, not
// shapes: sbs-gen writes a Go type per definition, an alias (Q = P)
// included, so a value of one definition labelled with another, however
// alike, is a mistake.
func checkLabel(op string, data Data, v sbsNamed) error {
	module, name := v.SBSType()
	if name == "" || (module == data.Module && name == data.Type) {
		return nil // an anonymous type names nothing to compare
	}
	return &TypeMismatchError{Op: op, Label: payloadName(data), Value: payloadName(Data{Module: module, Type: name})}
}

// payloadName names a payload type for errors: Module.Type, or Type for a
// builtin.
func payloadName(d Data) string {
	if d.Module == "" {
		return d.Type
	}
	return d.Module + "." + d.Type
}
