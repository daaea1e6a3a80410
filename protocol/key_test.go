package protocol_test

import (
	"strings"
	"testing"

	"github.com/edgetrust/edgetrust/protocol"
)

func TestMaskKey(t *testing.T) {
	sec := make([]byte, protocol.KeySecretBytes)
	for i := range sec {
		sec[i] = byte(i * 7)
	}
	v, err := protocol.FormatKey("abcdefghijklm", sec)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := protocol.ParseKey(v); err != nil || id != "abcdefghijklm" {
		t.Fatalf("ParseKey(FormatKey) = %q, %v", id, err)
	}
	tests := map[string]string{
		v:                        "etk_abcdefghijklm_****",
		"etk_pub123_secretvalue": "etk_pub123_****",
		"etk_nonsense":           "****",
		"short":                  "****",
		"longlegacykeyvalue":     "****",
		"etk_":                   "****",
		"etk_a-b_secret":         "****",
	}
	for in, want := range tests {
		got := protocol.MaskKey(in)
		if got != want {
			t.Errorf("MaskKey(%q) = %q, want %q", in, got, want)
		}
		if secret := strings.TrimPrefix(in, "etk_abcdefghijklm_"); len(secret) > 4 && strings.Contains(got, secret) {
			t.Errorf("MaskKey(%q) shows the secret", in)
		}
	}
}
