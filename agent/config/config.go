// Package config reads and writes the agent's configuration file: what
// 'edgetrust-agent install' was told (broker, API key, client type, how to
// trust the broker, where state and the socket live) and what the service
// runs with ('edgetrust-agent run --config FILE').
//
// The file holds the API key, so it is written atomically with mode 0600 and
// File never prints the key: its String and GoString methods mask it.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/edgetrust/edgetrust/internal/atomicfile"
)

// Name is the file's name inside the agent's configuration directory.
const Name = "agent.conf"

// CAName is the name of the copy of the broker's CA certificate that
// 'install' keeps next to the configuration.
const CAName = "broker-ca.pem"

// Version is the format version Save writes; Parse refuses newer ones.
const Version = 1

// maxSize bounds what Parse reads: the file is a few hundred bytes.
const maxSize = 64 << 10

// ErrInvalid is wrapped by errors about a file that exists but is not a
// valid configuration.
var ErrInvalid = errors.New("invalid agent configuration")

// File is the agent's configuration. Empty optional fields mean the agent's
// defaults.
type File struct {
	Version           int    `json:"version"`
	Broker            string `json:"broker"`  // HOST:PORT, or several separated by commas (ParseBrokers); required
	APIKey            string `json:"api_key"` // required; secret
	Type              string `json:"type,omitempty"`
	AccountID         string `json:"account,omitempty"`
	Description       string `json:"description,omitempty"`
	BrokerCA          string `json:"broker_ca,omitempty"`          // PEM file
	BrokerFingerprint string `json:"broker_fingerprint,omitempty"` // sha256:HEX
	StateDir          string `json:"state_dir,omitempty"`
	Socket            string `json:"socket,omitempty"`
}

// String describes f with the API key masked.
func (f File) String() string {
	m := f
	if m.APIKey != "" {
		m.APIKey = "****"
	}
	type plain File // no String method: no recursion
	return fmt.Sprintf("%+v", plain(m))
}

// GoString is String: %#v must not print the key either.
func (f File) GoString() string { return f.String() }

// Parse decodes a configuration. Unknown fields, a newer version, trailing
// data, a missing broker or a missing key are errors wrapping ErrInvalid;
// the messages never contain the key.
func Parse(data []byte) (File, error) {
	var f File
	if len(data) > maxSize {
		return File{}, fmt.Errorf("%w: larger than %d bytes", ErrInvalid, maxSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		// json errors quote offsets and field names, never values.
		return File{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return File{}, fmt.Errorf("%w: data after the JSON object", ErrInvalid)
	}
	switch {
	case f.Version < 1 || f.Version > Version:
		return File{}, fmt.Errorf("%w: version %d (this agent reads version %d)", ErrInvalid, f.Version, Version)
	case f.Broker == "":
		return File{}, fmt.Errorf("%w: no broker", ErrInvalid)
	}
	if _, err := ParseBrokers(f.Broker); err != nil {
		return File{}, fmt.Errorf("%w: broker: %v", ErrInvalid, err)
	}
	switch {
	case f.APIKey == "":
		return File{}, fmt.Errorf("%w: no api_key", ErrInvalid)
	case f.BrokerCA != "" && f.BrokerFingerprint != "":
		return File{}, fmt.Errorf("%w: both broker_ca and broker_fingerprint", ErrInvalid)
	}
	return f, nil
}

// Load reads and parses the configuration at path. A missing file is an
// error wrapping fs.ErrNotExist; an invalid one wraps ErrInvalid.
func Load(path string) (File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return File{}, err
	}
	f, err := Parse(data)
	if err != nil {
		return File{}, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Save writes f to path atomically with mode 0600, setting its version. The
// directory must exist.
func Save(path string, f File) error {
	f.Version = Version
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if _, err := Parse(data); err != nil {
		return err
	}
	return atomicfile.Write(path, append(data, '\n'), 0o600)
}

// ParseBrokers splits a broker list: one HOST:PORT, or several separated by
// commas ("a:7443,b:7443"; spaces around each are ignored), brokers sharing
// one database. The agent connects to one at a time and moves to the next
// when its connection is lost. Empty entries, an entry that is not
// HOST:PORT and a repeated entry are errors.
func ParseBrokers(s string) ([]string, error) {
	var out []string
	for _, b := range strings.Split(s, ",") {
		b = strings.TrimSpace(b)
		host, port, err := net.SplitHostPort(b)
		if err != nil || host == "" || port == "" {
			if b == "" {
				return nil, fmt.Errorf("%q has an empty entry: list brokers as HOST:PORT,HOST:PORT", s)
			}
			return nil, fmt.Errorf("%q is not HOST:PORT", b)
		}
		for _, seen := range out {
			if strings.EqualFold(seen, b) {
				return nil, fmt.Errorf("%q is listed twice", b)
			}
		}
		out = append(out, b)
	}
	return out, nil
}
