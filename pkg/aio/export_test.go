package aio

// NumChildren reports how many child groups g still keeps track of.
func NumChildren(g *Group) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.children)
}

// NumRunning reports how many spawned functions of g have not returned.
func NumRunning(g *Group) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.running
}
