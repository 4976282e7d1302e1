//go:build race

package test

// Under the race detector the binary is checked too: a race makes it exit
// with status 66.
func init() { buildFlags = append(buildFlags, "-race") }
