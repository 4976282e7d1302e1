package chatter

import (
	"errors"
	"testing"
)

type namedAs [2]string

func (n namedAs) SBSType() (module, name string) { return n[0], n[1] }

// TestCheckLabel: names are compared, so an alias or a type of the same
// shape is another type.
func TestCheckLabel(t *testing.T) {
	for _, tc := range []struct {
		label, value namedAs
		ok           bool
	}{
		{namedAs{"A", "P"}, namedAs{"A", "P"}, true},
		{namedAs{"A", "Q"}, namedAs{"A", "P"}, false}, // Q = P, or the same shape
		{namedAs{"A", "P"}, namedAs{"B", "P"}, false},
		{namedAs{"", "Integer"}, namedAs{"", "Integer"}, true},
		{namedAs{"A", "P"}, namedAs{"", ""}, true}, // an anonymous type names nothing
	} {
		err := checkLabel("send", Data{Module: tc.label[0], Type: tc.label[1]}, tc.value)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrTypeMismatch)) {
			t.Errorf("checkLabel(%v, %v) = %v", tc.label, tc.value, err)
		}
	}
}
