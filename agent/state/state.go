// Package state keeps the agent's identity (client id and Ed25519 key) and
// its registration state (endpoint state, device tokens, last error) on disk.
//
// Both files live in one directory created with mode 0700 and are written
// with mode 0600. Every write is atomic and durable: a temporary file in the
// same directory is written and fsynced, renamed over the target, and the
// directory is fsynced, so a crash leaves either the old or the new file,
// never a torn one. A file that exists but cannot be parsed is reported as
// ErrCorrupt and never silently replaced: replacing identity.json would make
// the device a different endpoint on the broker.
package state

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/edgetrust/edgetrust/internal/atomicfile"
)

// File names inside the state directory.
const (
	IdentityFile = "identity.json"
	StateFile    = "state.json"
)

// Endpoint states as the agent records them. Unregistered is local only (the
// agent has never been registered); the others are the broker's states.
const (
	Unregistered = "unregistered"
	Pending      = "pending"
	Trusted      = "trusted"
	Rejected     = "rejected"
	Untrusted    = "untrusted"
	Deleted      = "deleted"
)

// ValidState reports whether s is one of the states above.
func ValidState(s string) bool {
	switch s {
	case Unregistered, Pending, Trusted, Rejected, Untrusted, Deleted:
		return true
	}
	return false
}

// ErrCorrupt is wrapped by errors about a state file that exists but is empty
// or cannot be parsed. Callers must not replace such a file automatically.
var ErrCorrupt = errors.New("state file is corrupt")

// Identity is the device's long-lived identity: the client id it registers
// with and the private key that proves it.
type Identity struct {
	ClientID string
	Key      ed25519.PrivateKey
}

// identityFile is the on-disk form of Identity. Only the 32-byte seed is
// stored; the key is derived from it.
type identityFile struct {
	ClientID string `json:"client_id"`
	KeyType  string `json:"key_type"`
	Seed     []byte `json:"private_key_seed"`
}

// State is the agent's registration state in state.json. It holds device
// tokens, so it must never be shown as is: use Status for display.
type State struct {
	EndpointID       string    `json:"endpoint_id"`
	State            string    `json:"state"`
	LastError        string    `json:"last_error"`
	Broker           string    `json:"broker,omitempty"`
	AccountID        string    `json:"account_id,omitempty"`
	AccessToken      string    `json:"access_token,omitempty"`
	AccessExpiresAt  time.Time `json:"access_expires_at,omitzero"`
	RefreshToken     string    `json:"refresh_token,omitempty"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at,omitzero"`
	UpdatedAt        time.Time `json:"updated_at,omitzero"`
}

// Status is the part of State that may be shown to anyone: no tokens.
type Status struct {
	EndpointID       string    `json:"endpoint_id"`
	State            string    `json:"state"`
	LastError        string    `json:"last_error"`
	Broker           string    `json:"broker,omitempty"`
	AccountID        string    `json:"account_id,omitempty"`
	HasAccessToken   bool      `json:"has_access_token"`
	AccessExpiresAt  time.Time `json:"access_expires_at,omitzero"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at,omitzero"`
	UpdatedAt        time.Time `json:"updated_at,omitzero"`
	// Connected is set only by a running agent (GET /v1/status); nil when
	// the status was read from the file.
	Connected *bool `json:"connected,omitempty"`
}

// Status returns the displayable part of s.
func (s State) Status() Status {
	return Status{
		EndpointID:       s.EndpointID,
		State:            s.State,
		LastError:        s.LastError,
		Broker:           s.Broker,
		AccountID:        s.AccountID,
		HasAccessToken:   s.AccessToken != "",
		AccessExpiresAt:  s.AccessExpiresAt,
		RefreshExpiresAt: s.RefreshExpiresAt,
		UpdatedAt:        s.UpdatedAt,
	}
}

// LoadOrCreateIdentity returns the identity in dir/identity.json, creating
// dir (0700) and a new identity (random UUID v4 client id, new Ed25519 key)
// when the file does not exist. An empty or unparsable file is an error
// wrapping ErrCorrupt; it is never overwritten.
func LoadOrCreateIdentity(dir string) (Identity, error) {
	path := filepath.Join(dir, IdentityFile)
	id, err := loadIdentity(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return id, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Identity{}, fmt.Errorf("creating state directory: %w", err)
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Identity{}, fmt.Errorf("generating device key: %w", err)
	}
	id = Identity{ClientID: uuid.NewString(), Key: key}
	data, err := json.MarshalIndent(identityFile{ClientID: id.ClientID, KeyType: "ed25519", Seed: key.Seed()}, "", "  ")
	if err != nil {
		return Identity{}, err
	}
	switch err := atomicfile.Create(filepath.Join(dir, IdentityFile), append(data, '\n'), 0o600); {
	case errors.Is(err, fs.ErrExist):
		// Another process created it between our read and our write: use
		// theirs rather than forking the device's identity.
		return loadIdentity(path)
	case err != nil:
		return Identity{}, fmt.Errorf("writing %s: %w", path, err)
	}
	return id, nil
}

func loadIdentity(path string) (Identity, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Identity{}, err
	}
	var f identityFile
	if err := decodeStrict(data, &f); err != nil {
		return Identity{}, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	if _, err := uuid.Parse(f.ClientID); err != nil {
		return Identity{}, fmt.Errorf("%w: %s: client_id is not a UUID", ErrCorrupt, path)
	}
	if f.KeyType != "ed25519" || len(f.Seed) != ed25519.SeedSize {
		return Identity{}, fmt.Errorf("%w: %s: key is not an Ed25519 seed", ErrCorrupt, path)
	}
	return Identity{ClientID: f.ClientID, Key: ed25519.NewKeyFromSeed(f.Seed)}, nil
}

// Load returns the state in dir/state.json. A missing file (or directory)
// gives State{State: Unregistered} and no error; an empty or unparsable file
// or an unknown state value is an error wrapping ErrCorrupt.
func Load(dir string) (State, error) {
	path := filepath.Join(dir, StateFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return State{State: Unregistered}, nil
	}
	if err != nil {
		return State{}, err
	}
	var st State
	if err := decodeStrict(data, &st); err != nil {
		return State{}, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	if !ValidState(st.State) {
		return State{}, fmt.Errorf("%w: %s: unknown state %q", ErrCorrupt, path, st.State)
	}
	return st, nil
}

// Save writes st to dir/state.json atomically and durably, creating dir
// (0700) if needed. It does not change st (callers set UpdatedAt).
func Save(dir string, st State) error {
	if !ValidState(st.State) {
		return fmt.Errorf("state.Save: unknown state %q", st.State)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating state directory: %w", err)
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, StateFile), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Join(dir, StateFile), err)
	}
	return nil
}

// decodeStrict parses one JSON object and nothing else.
func decodeStrict(data []byte, v any) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return errors.New("file is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}
