//go:build race

package chatter_test

const raceEnabled = true
