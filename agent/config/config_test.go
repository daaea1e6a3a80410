package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const secret = "etk_pub1_verysecretvalue"

func full() File {
	return File{
		Broker: "broker.example:7443", APIKey: secret, Type: "printer", AccountID: "acc-1",
		Description: "hall printer", BrokerCA: "/etc/edgetrust-agent/broker-ca.pem",
		StateDir: "/var/lib/edgetrust-agent", Socket: "/run/edgetrust-agent/agent.sock",
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), Name)
	if err := Save(path, full()); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := full()
	want.Version = Version
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
		}
	}
	// Saving again replaces the file in place.
	next := full()
	next.Description = "moved to the lobby"
	if err := Save(path, next); err != nil {
		t.Fatal(err)
	}
	if got, _ := Load(path); got.Description != "moved to the lobby" {
		t.Errorf("after a second Save, Description = %q", got.Description)
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), Name))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of a missing file = %v, want fs.ErrNotExist", err)
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"empty", ``, "EOF"},
		{"not json", `broker=x`, "invalid character"},
		{"unknown field", `{"version":1,"broker":"b:1","api_key":"` + secret + `","colour":"red"}`, "unknown field"},
		{"trailing", `{"version":1,"broker":"b:1","api_key":"` + secret + `"} {}`, "after the JSON object"},
		{"no version", `{"broker":"b:1","api_key":"` + secret + `"}`, "version 0"},
		{"newer version", `{"version":2,"broker":"b:1","api_key":"` + secret + `"}`, "version 2"},
		{"no broker", `{"version":1,"api_key":"` + secret + `"}`, "no broker"},
		{"no key", `{"version":1,"broker":"b:1"}`, "no api_key"},
		{"both pins", `{"version":1,"broker":"b:1","api_key":"` + secret + `","broker_ca":"/ca.pem","broker_fingerprint":"sha256:00"}`, "both"},
		{"key of wrong type", `{"version":1,"broker":"b:1","api_key":["` + secret + `"]}`, "api_key"},
		{"too large", `{"version":1,"description":"` + strings.Repeat("x", maxSize) + `"}`, "larger than"},
		{"broker not host:port", `{"version":1,"broker":"b:1,c","api_key":"` + secret + `"}`, `"c" is not HOST:PORT`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.data))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains the API key", err)
			}
		})
	}
}

func TestFileNeverPrintsTheKey(t *testing.T) {
	f := full()
	for _, format := range []string{"%v", "%+v", "%s", "%#v"} {
		out := fmt.Sprintf(format, f)
		if strings.Contains(out, secret) {
			t.Errorf("%s prints the key: %s", format, out)
		}
		if !strings.Contains(out, "broker.example:7443") {
			t.Errorf("%s hides the broker too: %s", format, out)
		}
	}
}

func TestParseBrokers(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"b:7443", []string{"b:7443"}, ""},
		{"a:7443,b:7443", []string{"a:7443", "b:7443"}, ""},
		{" a:7443 , [::1]:7443 ", []string{"a:7443", "[::1]:7443"}, ""},
		{"", nil, "empty entry"},
		{"a:7443,", nil, "empty entry"},
		{"a:7443,b", nil, `"b" is not HOST:PORT`},
		{"a:7443,:7443", nil, `":7443" is not HOST:PORT`},
		{"a:7443,A:7443", nil, "listed twice"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseBrokers(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseBrokers(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}
