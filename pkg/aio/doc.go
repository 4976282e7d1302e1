// Package aio gives every goroutine an owner and an end.
//
// It renders in Go the model of the hat project's Python aio module, on which
// Chatter is built: groups of goroutines that close together, resources whose
// life is such a group, and closable queues between goroutines. Contexts,
// channels and generics take the place of Python's tasks and futures.
//
// # Where to start
//
//   - [Group] owns goroutines ([Group.Spawn]) and child groups
//     ([Group.NewChild]). [Group.Close] cancels the group's context, closes
//     its children and returns; [Group.Closed] fires once everything in it
//     has returned; [Group.Shutdown] does both, bounded by a context.
//   - [Resource] is anything whose life is a Group, such as a connection.
//     Embed a [Lifecycle] (made by [NewLifecycle]) to give a type Close,
//     Closed, Wait, Shutdown and the rest.
//   - [Queue] carries values between goroutines: FIFO, bounded or not,
//     closable, with context-aware [Queue.Put] and [Queue.Get], an iterator
//     ([Queue.All]) and signals for select ([Queue.NotEmpty],
//     [Queue.NotFull]).
//   - errors.go holds the sentinels [ErrClosed], [ErrFull] and [ErrEmpty].
//
// # Concurrency contracts
//
// Every method of Group, Lifecycle and Queue is safe for concurrent use.
//
// Closing a Group is one-way and does not block: [Group.Close] and
// [Group.CloseWithCause] may be called any number of times from any
// goroutine, including the group's own, and the first reason given is kept
// ([Group.Cause], context.Cause on [Group.Context]). Waiting is separate:
// [Group.Wait] and [Group.Shutdown] take a context and give up when it ends,
// so a goroutine that ignores its context cannot hang its caller forever.
// A spawned function ending, even with an error, does not close its group:
// the error goes to the error handler ([WithErrorHandler]); a function whose
// end should end the group calls Close (or CloseWithCause with its error)
// itself. Panics are not recovered: a panic is a bug, and hiding it would
// leave a half-dead daemon running with broken invariants; the program
// crashes as it would with a bare go statement.
//
// A Queue's blocking calls take a context and leave the queue unchanged when
// they fail: a Put that returns an error did not insert and a Get that
// returns an error did not remove. Close wakes every waiter; items put before
// Close are still delivered. Parked putters and getters are served first
// come, first served, and an item put while a getter is parked is handed to
// it directly.
//
// # Relation to the Python original
//
// Group.spawn becomes [Group.Spawn], taking a function of a context:
// cancellation is the context's, and the close reason is kept as its cause.
// create_subgroup becomes [Group.NewChild]; wait_closing and wait_closed
// become the [Group.Closing] and [Group.Closed] channels, and [Group.Wait];
// async_close is Close followed by Wait, that is [Group.Shutdown]; the
// exception callback is [WithErrorHandler]. Resource.async_group becomes
// [Resource]'s Group method. Queue keeps its shape: QueueClosedError,
// QueueFullError and QueueEmptyError are [ErrClosed], [ErrFull] and
// [ErrEmpty], get_until_empty is [Queue.GetUntilEmpty] and async iteration
// is [Queue.All].
package aio
