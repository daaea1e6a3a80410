package config

import (
	"errors"
	"testing"
)

// FuzzParse: any input either parses into a usable File or fails with
// ErrInvalid; it never panics.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"version":1,"broker":"b:1","api_key":"etk_a_b"}`))
	f.Add([]byte(`{"version":1,"broker":"b:1","api_key":"k","broker_ca":"/x","state_dir":"/s","socket":"/r"}`))
	f.Add([]byte(`{"version":1} []`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if c.Broker == "" || c.APIKey == "" || c.Version != Version {
			t.Fatalf("Parse accepted an unusable file: %s", c)
		}
	})
}
