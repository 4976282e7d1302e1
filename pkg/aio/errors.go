package aio

import "errors"

// Sentinel errors. Test for them with errors.Is.
var (
	// ErrClosed: the Group is closing, or the Queue is closed (and, for
	// a getter, drained). It is also the cause recorded by a plain
	// [Group.Close].
	ErrClosed = errors.New("aio: closed")
	// ErrFull: [Queue.PutNowait] on a bounded queue that has no room.
	ErrFull = errors.New("aio: queue full")
	// ErrEmpty: [Queue.GetNowait] on an empty queue that is still open.
	ErrEmpty = errors.New("aio: queue empty")
)
