package protocol

import (
	"strings"
	"testing"
)

// FuzzParseKey: ParseKey never panics; what it accepts has the value's
// exact form, round-trips through FormatKey's checksum, and masks to its
// public id only.
func FuzzParseKey(f *testing.F) {
	good, err := FormatKey("abcdefghijklm", make([]byte, KeySecretBytes))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{good, "", KeyPrefix, good[:len(good)-1] + "a", strings.ToUpper(good), good + " ", "etk_abcdefghijklm-" + good[18:]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseKey(s)
		if err != nil {
			if id != "" {
				t.Fatalf("ParseKey(%q) returned id %q with %v", s, id, err)
			}
			return
		}
		if len(s) != KeyLen || !strings.HasPrefix(s, KeyPrefix+id+"_") {
			t.Fatalf("accepted %q with id %q", s, id)
		}
		if body := s[:len(s)-keyChecksumLen]; s[len(body):] != keyChecksum(body) {
			t.Fatalf("accepted %q with a wrong checksum", s)
		}
		if m := MaskKey(s); m != KeyPrefix+id+"_****" {
			t.Fatalf("MaskKey(%q) = %q", s, m)
		}
	})
}
