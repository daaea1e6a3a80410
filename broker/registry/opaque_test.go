package registry

import (
	"strings"
	"testing"
)

func TestOpaque(t *testing.T) {
	s1, h1 := newOpaque("etr_")
	s2, h2 := newOpaque("etr_")
	if s1 == s2 || string(h1) == string(h2) || !strings.HasPrefix(s1, "etr_") {
		t.Fatal("opaque secrets repeat or lack prefix")
	}
	if string(hashOpaque(s1)) != string(h1) {
		t.Fatal("hashOpaque differs from newOpaque's hash")
	}
}
