package apikey

import (
	"github.com/edgetrust/edgetrust/protocol"
	"strings"
	"testing"
)

func TestGenerateParseVerify(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		v, id, err := Generate()
		if err != nil {
			t.Fatal(err)
		}
		if len(v) != Len {
			t.Fatalf("len = %d, want %d", len(v), Len)
		}
		got, err := Parse(v)
		if err != nil || got != id {
			t.Fatalf("Parse(%q) = %q, %v; want %q", protocol.MaskKey(v), got, err, id)
		}
		if !Verify(v, Hash(v)) {
			t.Fatal("Verify of own hash failed")
		}
		if seen[v] {
			t.Fatal("duplicate value")
		}
		seen[v] = true
	}
}

func TestRegenerateKeepsPublicIDChangesSecret(t *testing.T) {
	v1, id, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	v2, err := Regenerate(id)
	if err != nil {
		t.Fatal(err)
	}
	if v1 == v2 {
		t.Fatal("Regenerate returned the same value")
	}
	if got, _ := Parse(v2); got != id {
		t.Fatalf("public id = %q, want %q", got, id)
	}
	if Verify(v1, Hash(v2)) {
		t.Fatal("old value verifies against the new hash")
	}
}

func TestParseRejects(t *testing.T) {
	good, _, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	for name, v := range map[string]string{
		"empty":            "",
		"wrong prefix":     "xtk_" + good[4:],
		"short":            good[:len(good)-1],
		"long":             good + "a",
		"typo in secret":   flip(good, 30),
		"typo in id":       flip(good, 5),
		"typo in checksum": flip(good, len(good)-1),
		"upper case":       strings.ToUpper(good),
		"no separator":     good[:17] + "a" + good[18:],
		"bad alphabet":     good[:20] + "1" + good[21:],
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse(v); err == nil {
				t.Fatalf("Parse accepted %q", v)
			}
		})
	}
}
