package chatter

import (
	"errors"
	"fmt"

	"github.com/gochatter/gochatter/pkg/sbs"
)

// Typed payloads. Payloads need not go through the sbs value model
// (map[string]any, sbs.Union, ...): Go types written by cmd/sbs-gen, and
// ordinary Go types through sbs struct bindings, can be sent and received
// as they are.
//
// Sending: a Go struct (or a pointer, slice, array or map of structs or
// of scalars) goes into Data.Data as it is; it is bound to the schema
// type Module.Type through sbs's bindings, checked against the schema on
// first use (a mismatch is an error naming the field) and cached:
//
//	conn.Send(ctx, chatter.Data{Module: "Shop", Type: "Order", Data: &order})
//
// A value with an AppendSBS method is encoded by that method, with no
// repository look-up: types written by sbs-gen have one, and so does
// sbs.Binding's Value. Both also name their SBS type ([TypedPayload]), so
// [DataOf] labels the message for them, and Send refuses a label that
// names another type with a [*TypeMismatchError] before anything is
// written:
//
//	conn.Send(ctx, chatter.DataOf(&point))
//
// Receiving: [Decode] decodes a received message's payload into a Go
// value, on any connection. Messages of composite types (Tuple, Union,
// Array) keep their payload bytes in Msg.Raw next to the dynamic value, so
// Decode reads them directly; [WithRawPayloads] skips the dynamic decoding
// altogether.

// sbsUnmarshaler is implemented by types written by sbs-gen.
type sbsUnmarshaler interface {
	UnmarshalSBS(data []byte) error
}

// ErrNoPayload: [Decode] was given a message it cannot read because it was
// not received from a connection (Msg.Conv.Conn is nil), so that there is
// no repository to find its type in; only a type written by sbs-gen can
// decode such a message, from Msg.Raw.
var ErrNoPayload = errors.New("chatter: message has no payload to decode")

// Decode decodes the payload of msg into *into. A *T that names its SBS
// type (a type written by sbs-gen) must be of the type msg is labelled
// with, and a struct binding of T must fit it: otherwise the error is a
// [*TypeMismatchError], as Send's is for the same mistake. When *T has an
// UnmarshalSBS method (a type written by sbs-gen) that method decodes it;
// otherwise an sbs struct binding of T to the repository type named by
// msg.Data.Module and msg.Data.Type (the repository of the connection that
// received msg) does. Other errors are those of sbs: a *sbs.DataError for
// a payload that does not decode, one wrapping sbs.ErrUnknownType for a
// type the repository lacks; a *sbs.BindError, when T cannot hold the
// type, comes inside the *TypeMismatchError.
//
// A message decoded [WithPayloadTypes] holds a *T already: Decode copies
// it (a shallow copy, sharing its slices), without decoding again.
//
// Decode reads msg.Raw when the message has it: on a connection made
// [WithRawPayloads], for every message of a composite type, and when the
// payload did not decode (msg.DecodeErr). A scalar payload (an Integer, a
// String, ...) is not kept raw; Decode then encodes msg.Data.Data again,
// which for a scalar is cheap.
func Decode[T any](msg Msg, into *T) error {
	c := msg.Conv.Conn
	if named, ok := any(into).(sbsNamed); ok {
		if err := checkLabel("decode", msg.Data, named); err != nil {
			return err
		}
	}
	if v, ok := msg.Data.Data.(*T); ok && v != nil {
		*into = *v // decoded already, WithPayloadTypes
		return nil
	}
	if a, ok := msg.Data.Data.(sbsAppender); ok && msg.Raw == nil {
		// A value of another Go type, decoded WithPayloadTypes: its bytes
		// again, for into's decoder.
		raw, err := a.AppendSBS(make([]byte, 0, 64))
		if err != nil {
			return decodeErr(msg, err)
		}
		msg.Raw = raw // not nil, even for a value of no bytes
	}
	raw := []byte(msg.Raw)
	haveRaw := raw != nil || msg.DecodeErr != nil || (c != nil && c.cfg.rawPayloads)
	if u, ok := any(into).(sbsUnmarshaler); ok && haveRaw {
		return decodeErr(msg, u.UnmarshalSBS(raw))
	}
	if c == nil {
		return fmt.Errorf("chatter: decode %s: %w", payloadName(msg.Data), ErrNoPayload)
	}
	t, err := c.repo.Type(msg.Data.Module, msg.Data.Type)
	if err != nil {
		return fmt.Errorf("chatter: decode: %w", err)
	}
	if !haveRaw {
		if raw, err = t.Encode(msg.Data.Data); err != nil {
			return decodeErr(msg, err)
		}
		if u, ok := any(into).(sbsUnmarshaler); ok {
			return decodeErr(msg, u.UnmarshalSBS(raw))
		}
	}
	if err := sbs.Unmarshal(t, raw, into); err != nil {
		return payloadError("decode", msg.Data, err)
	}
	return nil
}

func decodeErr(msg Msg, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("chatter: decode %s: %w", payloadName(msg.Data), err)
}
