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
//     has returned; [Group.Wait] waits for that and says why it closed;
//     [Group.Shutdown] does both, bounded by a context.
//   - [Resource] is the lifecycle method set of anything whose life is a
//     Group — Context, Done, Wait, Close — as chatter's Conn and Server
//     give it. A type keeps its Group unexported and writes those methods.
//   - [Queue] carries values between goroutines: FIFO, bounded or not,
//     closable, with context-aware [Queue.Put] and [Queue.Get], batches
//     ([Queue.GetAll]), an iterator ([Queue.All]) and signals for select
//     ([Queue.NotEmpty], [Queue.NotFull]).
//   - errors.go holds the sentinels [ErrClosed], [ErrFull] and [ErrEmpty].
//
// # Concurrency contracts
//
// Every method of Group and Queue is safe for concurrent use.
//
// Closing a Group is one-way and does not block: [Group.Close] and
// [Group.CloseWithCause] may be called any number of times from any
// goroutine, including the group's own, and the first reason given is kept
// ([Group.Cause], context.Cause on [Group.Context]). The first spawned
// function to return an error closes the group with it, as in errgroup.
// Waiting is separate: [Group.Wait] and [Group.Shutdown] take a context and
// give up when it ends, so a goroutine that ignores its context cannot hang
// its caller forever. Panics are not recovered: a panic is a bug, and hiding
// it would leave a half-dead daemon running with broken invariants; the
// program crashes as it would with a bare go statement.
//
// A Queue's blocking calls take a context and leave the queue unchanged when
// they fail: a Put that returns an error did not insert and a Get that
// returns an error did not remove. Close wakes every waiter; items put before
// Close are still delivered. Parked putters and getters are served first
// come, first served, and an item put while a getter is parked is handed to
// it directly.
//
// # Relation to the Python original, and where the port differs
//
// Group.spawn becomes [Group.Spawn], taking a function of a context:
// cancellation is the context's, and the close reason is kept as its cause.
// create_subgroup becomes [Group.NewChild]; wait_closing and wait_closed
// become the [Group.Closing] and [Group.Closed] channels and [Group.Wait];
// async_close is Close followed by Wait, that is [Group.Shutdown]; is_open,
// is_closing and is_closed are [Group.IsClosing] and [Group.IsClosed].
// Resource.async_group has no counterpart: the Group stays the resource's
// own, and [Resource] lists the methods it offers instead. Queue keeps its
// shape: QueueClosedError, QueueFullError and QueueEmptyError are
// [ErrClosed], [ErrFull] and [ErrEmpty], and async iteration is [Queue.All].
//
// The port differs where Go has a convention of its own:
//
//   - Errors. In Python a task's exception goes to the group's exception
//     callback, which logs it, and the group stays open. Here the first
//     error returned by a spawned function closes the group and becomes its
//     cause, as in golang.org/x/sync/errgroup, and [Group.Wait] returns it:
//     an error is never silently dropped, and a goroutine whose end should
//     not end the others returns nil. There is no exception callback.
//   - Wait's result. [Group.Wait] returns nil after a plain Close and the
//     cause otherwise, so that a group composes with errgroup.Go.
//   - Construction. A Group must come from [NewGroup], [NewGroupFrom]
//     or [Group.NewChild]: its channels and context are made then, and
//     the accessors take no lock.
//   - get_until_empty. [Queue.GetUntilEmpty] is Python's: it empties the
//     queue and returns the newest item. [Queue.GetAll], which has no
//     Python counterpart, returns every item, for a writer that takes a
//     whole batch at once.
package aio
