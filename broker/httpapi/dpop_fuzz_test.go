package httpapi

import (
	"crypto/tls"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/edgetrust/edgetrust/protocol/api"
)

// FuzzDPoPProof: any DPoP header either parses into a proof with a key
// thumbprint, a jti, htm and htu, or fails with invalid_dpop_proof and a
// message that quotes nothing of the header; checking a parsed proof
// against a request never panics. The seeds (testdata/fuzz/FuzzDPoPProof)
// are an EdDSA and an RS256 proof and the ways a proof is commonly wrong:
// alg none and HS256, typ JWT, no or a private jwk, no iat, JSON form.
func FuzzDPoPProof(f *testing.F) {
	f.Add("")
	f.Add("..")
	f.Add("eyJ0eXAiOiJkcG9wK2p3dCJ9..")
	f.Fuzz(func(t *testing.T, header string) {
		p, err := parseDPoP(header)
		if err != nil {
			var de *dpopError
			if !errors.As(err, &de) || de.code != api.CodeInvalidDPoPProof || de.msg == "" {
				t.Fatalf("error %v is not an invalid_dpop_proof with a message", err)
			}
			if len(header) > 12 && strings.Contains(de.msg, header) {
				t.Fatalf("message %q quotes the header", de.msg)
			}
			return
		}
		if p.jkt == "" || p.jti == "" || len(p.jti) > 256 || p.htm == "" || p.htu == "" {
			t.Fatalf("parsed proof %+v lacks a field", p)
		}
		r := httptest.NewRequest("POST", "https://127.0.0.1:7443"+api.PathLogin, nil)
		r.TLS = &tls.ConnectionState{}
		_ = p.checkRequest(r, "a.b.c")
	})
}

func TestSameTarget(t *testing.T) {
	r := httptest.NewRequest("POST", "https://Broker.Example:443/api/v1/login?x=1", nil)
	r.TLS = &tls.ConnectionState{}
	for htu, want := range map[string]bool{
		"https://broker.example/api/v1/login":       true,
		"HTTPS://BROKER.EXAMPLE:443/api/v1/login":   true,
		"https://broker.example/api/v1/login?y=2#f": true, // query and fragment are not compared
		"http://broker.example/api/v1/login":        false,
		"https://broker.example:8443/api/v1/login":  false,
		"https://other.example/api/v1/login":        false,
		"https://broker.example/api/v1/login/":      false,
		"https://broker.example/API/v1/login":       false,
		"https://user@broker.example/api/v1/login":  false,
		"/api/v1/login":                               false,
		"https://broker.example/api/v1/%6Cogin":       false,
		"mailto:broker.example/api/v1/login":          false,
		"https://broker.example:443:443/api/v1/login": false,
	} {
		if got := sameTarget(htu, r); got != want {
			t.Errorf("sameTarget(%q) = %v, want %v", htu, got, want)
		}
	}
}

// TestDPoPSeeds checks the fuzz seeds say what their names say: the good
// proofs parse, every other one is refused.
func TestDPoPSeeds(t *testing.T) {
	good := map[string]bool{"ed25519": true, "rsa_rs256": true, "fractional_iat": true}
	entries, err := os.ReadDir(filepath.Join("testdata", "fuzz", "FuzzDPoPProof"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzDPoPProof", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		_, line, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(line, "string("), ")"))
		if err != nil {
			t.Fatalf("seed %s: %v", e.Name(), err)
		}
		p, err := parseDPoP(s)
		if good[e.Name()] != (err == nil) {
			t.Errorf("seed %s: proof %+v, error %v", e.Name(), p, err)
		}
	}
}
