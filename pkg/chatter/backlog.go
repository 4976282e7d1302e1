package chatter

// backlog is the deliverer's FIFO of messages waiting for room in the
// Messages channel. It grows in fixed chunks, so a burst costs no copying of
// what is already queued and the memory of a drained burst goes back at
// once; one spare chunk is kept for the next burst. It counts the payload
// bytes it holds (Msg.heldBytes), for WithQueueBytes.
type backlog struct {
	head, tail *backlogChunk
	len        int
	bytes      int
	spare      *backlogChunk
}

const backlogChunkSize = 256

type backlogChunk struct {
	msgs       [backlogChunkSize]Msg
	sizes      [backlogChunkSize]int // heldBytes of each, counted once
	start, end int
	next       *backlogChunk
}

func (b *backlog) push(m Msg) {
	if b.tail == nil || b.tail.end == backlogChunkSize {
		c := b.spare
		if c != nil {
			b.spare = nil
		} else {
			c = new(backlogChunk)
		}
		if b.tail == nil {
			b.head = c
		} else {
			b.tail.next = c
		}
		b.tail = c
	}
	n := m.heldBytes()
	b.tail.msgs[b.tail.end] = m
	b.tail.sizes[b.tail.end] = n
	b.tail.end++
	b.len++
	b.bytes += n
}

// frontRef returns the oldest message, in place; the backlog must not be
// empty.
func (b *backlog) frontRef() *Msg { return &b.head.msgs[b.head.start] }

// pop drops the oldest message.
func (b *backlog) pop() {
	c := b.head
	c.msgs[c.start] = Msg{}
	b.bytes -= c.sizes[c.start]
	c.start++
	b.len--
	if c.start == c.end {
		b.head = c.next
		if b.head == nil {
			b.tail = nil
		}
		*c = backlogChunk{}
		b.spare = c
	}
}
