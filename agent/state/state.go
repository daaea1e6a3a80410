// Package state keeps the agent's identity (client id and Ed25519 key) and
// its registration state (endpoint state, device tokens, last error) on disk.
//
// Both files live in one directory created with mode 0700 and are written
// with mode 0600. Every write is atomic and durable: a temporary file in the
// same directory is written and fsynced, renamed over the target, and the
// directory is fsynced, so a crash leaves either the old or the new file,
// never a torn one. A new state directory's own entry is fsynced in its
// parent too. A file that exists but cannot be parsed is reported as
// ErrCorrupt and never silently replaced: replacing identity.json would make
// the device a different endpoint on the broker. For the same reason Open
// reports a lost identity.json (while state.json still names an endpoint) as
// ErrCorrupt instead of creating a new identity.
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
	// UnreachableSince is when the broker stopped answering; zero while it
	// answers. A trusted agent keeps serving the user tokens it holds
	// meanwhile (SPEC S3c).
	UnreachableSince time.Time `json:"unreachable_since,omitzero"`
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
	UnreachableSince time.Time `json:"unreachable_since,omitzero"`
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
		UnreachableSince: s.UnreachableSince,
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
	if err := ensureDir(dir); err != nil {
		return Identity{}, err
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

// LoadIdentity returns the identity in dir/identity.json. A missing file is
// an error wrapping fs.ErrNotExist; an empty or unparsable one wraps
// ErrCorrupt.
func LoadIdentity(dir string) (Identity, error) {
	return loadIdentity(filepath.Join(dir, IdentityFile))
}

// Open returns the identity and the state in dir for the agent that owns
// them, creating the identity (as LoadOrCreateIdentity) only when the state
// names no endpoint yet. It fails with an error wrapping ErrCorrupt when
// either file is corrupt, when identity.json is missing although state.json
// records an endpoint (the identity was lost: a new one would be another
// endpoint on the broker), or when the two files name different endpoints.
// It also removes temporary files that writes killed midway left behind.
func Open(dir string) (Identity, State, error) {
	for _, f := range []string{IdentityFile, StateFile} {
		if _, err := atomicfile.RemoveTemps(filepath.Join(dir, f)); err != nil {
			return Identity{}, State{}, err
		}
	}
	st, err := Load(dir)
	if err != nil {
		return Identity{}, State{}, err
	}
	var id Identity
	if st.EndpointID == "" {
		id, err = LoadOrCreateIdentity(dir)
	} else {
		id, err = LoadIdentity(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return Identity{}, State{}, fmt.Errorf("%w: %s is missing but %s records endpoint %s",
				ErrCorrupt, filepath.Join(dir, IdentityFile), filepath.Join(dir, StateFile), st.EndpointID)
		}
	}
	if err != nil {
		return Identity{}, State{}, err
	}
	if st.EndpointID != "" && st.EndpointID != id.ClientID {
		return Identity{}, State{}, fmt.Errorf("%w: %s records endpoint %s but %s holds client id %s",
			ErrCorrupt, filepath.Join(dir, StateFile), st.EndpointID, filepath.Join(dir, IdentityFile), id.ClientID)
	}
	return id, st, nil
}

// ensureDir creates dir (0700) when it does not exist and fsyncs its parent,
// so that the directory itself survives a power cut with the files written
// into it.
func ensureDir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating state directory: %w", err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
		return fmt.Errorf("creating state directory: %w", err)
	}
	return nil
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
	if err := ensureDir(dir); err != nil {
		return err
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
