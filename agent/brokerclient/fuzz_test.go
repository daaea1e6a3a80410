package brokerclient

import (
	"encoding/hex"
	"strings"
	"testing"
)

// FuzzParseFingerprint: never panics; what it accepts is 32 bytes that
// print back to the same hex (colons and prefix case aside).
func FuzzParseFingerprint(f *testing.F) {
	good := "sha256:" + strings.Repeat("ab", 32)
	for _, s := range []string{good, strings.ToUpper(good), "sha256:", "sha1:00", good[:len(good)-1], "sha256:" + strings.Repeat("a:b", 32)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseFingerprint(s)
		if err != nil {
			return
		}
		if len(b) != 32 {
			t.Fatalf("accepted %q as %d bytes", s, len(b))
		}
		if got := strings.ReplaceAll(strings.ToLower(s[len("sha256:"):]), ":", ""); got != hex.EncodeToString(b) {
			t.Fatalf("accepted %q but decoded %x", s, b)
		}
	})
}
