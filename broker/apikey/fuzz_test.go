package apikey

import (
	"testing"

	"github.com/edgetrust/edgetrust/protocol"
)

// FuzzParse: Parse never panics, and whatever it accepts has the form of a
// value and round-trips its public id.
func FuzzParse(f *testing.F) {
	v, _, _ := Generate()
	for _, s := range []string{v, "", "etk_", "etk_aaaaaaaaaaaaa_", v[:len(v)-1] + "a", "ETK_" + v[4:]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s)
		if err != nil {
			return
		}
		if len(s) != Len || len(id) != 13 || s[len(Prefix):len(Prefix)+13] != id {
			t.Fatalf("accepted %q with id %q", s, id)
		}
		if protocol.MaskKey(s) == s {
			t.Fatal("MaskKey returned the value itself")
		}
	})
}
