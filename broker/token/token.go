// Package token mints and verifies the broker's access tokens (SPEC T1):
// JWTs signed with Ed25519 (EdDSA, the only algorithm accepted), with
// go-jose. An Issuer is the registry's Signer as it is: its Claims are the
// registry's own (registry.Claims), stated by the registry in its terms so
// that the domain pulls in no JWT library.
//
// The clock is injected so lifetimes can be tested without waiting.
package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	gojson "github.com/go-jose/go-jose/v4/json"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/internal/atomicfile"
	"github.com/edgetrust/edgetrust/protocol"
)

// Token types, carried in the "token_type" claim (not "typ", which would
// clash with the JOSE header of that name).
const (
	TypeDevice = registry.TokenDevice
	TypeUser   = registry.TokenUser
)

// Claims are the fields of an access token: the registry's own claims
// (registry.Claims), so that an Issuer is the registry's Signer as it is.
type Claims = registry.Claims

var _ registry.Signer = (*Issuer)(nil)

type privateClaims struct {
	Account  string `json:"acct,omitempty"`
	Type     string `json:"token_type"`
	Cnf      *cnf   `json:"cnf,omitempty"`
	Endpoint string `json:"endpoint_id,omitempty"`
	Session  string `json:"sid,omitempty"`
	// OpenID Connect names of the user (user tokens only).
	PreferredUsername string `json:"preferred_username,omitempty"`
	UPN               string `json:"upn,omitempty"`
	Email             string `json:"email,omitempty"`
	Domain            string `json:"domain,omitempty"`
}

type cnf struct {
	JKT string `json:"jkt"`
}

// Config configures an Issuer. Key is required.
type Config struct {
	Issuer   string             // "iss"; "" = "edgetrust"
	Audience string             // "aud"; "" = "edgetrust"
	Key      ed25519.PrivateKey // signing key
	// Previous are public keys still published and accepted for
	// verification after a rotation (SPEC T5).
	Previous []ed25519.PublicKey
	Now      func() time.Time // nil = time.Now
	// OnUnknownKey, when set, is called by Verify for a key id the Issuer
	// does not know, before it refuses the token: brokers sharing a
	// database add each other's keys (AddKeys), and a broker started since
	// the last refresh is looked up then. It must bound its own cost: a
	// token with a made-up key id costs its sender nothing.
	OnUnknownKey func(kid string)
}

// Issuer mints and verifies tokens. It is safe for concurrent use.
type Issuer struct {
	iss, aud string
	sign     atomic.Pointer[signingKey] // the key Mint signs with (SetKeys replaces it)
	now      func() time.Time
	unknown  func(kid string)

	mu   sync.RWMutex
	keys map[string]ed25519.PublicKey // verification keys by id
	set  jose.JSONWebKeySet           // the same, published in this order
	jwks []byte                       // set, encoded
}

// ErrInvalid is returned (wrapped) for any token that does not verify.
var ErrInvalid = errors.New("token: invalid")

// New returns an Issuer.
func New(cfg Config) (*Issuer, error) {
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("token.New: Config.Key is not an Ed25519 private key")
	}
	i := &Issuer{iss: cfg.Issuer, aud: cfg.Audience, now: cfg.Now, unknown: cfg.OnUnknownKey, keys: map[string]ed25519.PublicKey{}}
	if i.iss == "" {
		i.iss = "edgetrust"
	}
	if i.aud == "" {
		i.aud = "edgetrust"
	}
	if i.now == nil {
		i.now = time.Now
	}
	pub := cfg.Key.Public().(ed25519.PublicKey)
	sk, err := newSigningKey(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("token.New: %w", err)
	}
	if err := i.AddKeys(append([]ed25519.PublicKey{pub}, cfg.Previous...)...); err != nil {
		return nil, err
	}
	i.sign.Store(sk)
	return i, nil
}

// signingKey is a key Mint signs with, and its id.
type signingKey struct {
	kid    string
	signer jose.Signer
}

func newSigningKey(key ed25519.PrivateKey) (*signingKey, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("the signing key is not an Ed25519 private key")
	}
	kid, err := protocol.Thumbprint(key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, err
	}
	return &signingKey{kid: kid, signer: signer}, nil
}

// SetKeys makes signing the key Mint signs with and published the keys
// the Issuer verifies with and publishes in its JWKS, in this order,
// replacing all it had (signing rotation, SPEC T5: the caller publishes a
// key before it signs and keeps it published after). signing's public key
// must be among published.
func (i *Issuer) SetKeys(signing ed25519.PrivateKey, published []ed25519.PublicKey) error {
	sk, err := newSigningKey(signing)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	keys := make(map[string]ed25519.PublicKey, len(published))
	var set jose.JSONWebKeySet
	for _, p := range published {
		if len(p) != ed25519.PublicKeySize {
			return errors.New("token: a verification key is not an Ed25519 public key")
		}
		k, err := protocol.Thumbprint(p)
		if err != nil {
			return err
		}
		if _, ok := keys[k]; ok {
			continue
		}
		keys[k] = p
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: p, KeyID: k, Algorithm: string(jose.EdDSA), Use: "sig"})
	}
	if _, ok := keys[sk.kid]; !ok {
		return errors.New("token: the signing key is not among the published keys")
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		return err
	}
	i.mu.Lock()
	i.keys, i.set, i.jwks = keys, set, jwks
	i.sign.Store(sk)
	i.mu.Unlock()
	return nil
}

// Issuer returns the "iss" value of minted tokens.
func (i *Issuer) Issuer() string { return i.iss }

// JWKS returns the JSON Web Key Set of the verification keys.
func (i *Issuer) JWKS() []byte {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.jwks
}

// KeyID returns the id ("kid", the JWK thumbprint) of the signing key.
func (i *Issuer) KeyID() string { return i.sign.Load().kid }

// AddKeys adds public keys to those the Issuer verifies with and publishes
// (keys of other brokers sharing the database); keys it has are skipped.
func (i *Issuer) AddKeys(keys ...ed25519.PublicKey) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	added := false
	for _, p := range keys {
		if len(p) != ed25519.PublicKeySize {
			return errors.New("token: a verification key is not an Ed25519 public key")
		}
		k, err := protocol.Thumbprint(p)
		if err != nil {
			return err
		}
		if _, ok := i.keys[k]; ok {
			continue
		}
		i.keys[k] = p
		i.set.Keys = append(i.set.Keys, jose.JSONWebKey{Key: p, KeyID: k, Algorithm: string(jose.EdDSA), Use: "sig"})
		added = true
	}
	if !added && i.jwks != nil {
		return nil
	}
	jwks, err := json.Marshal(i.set)
	if err != nil {
		return err
	}
	i.jwks = jwks
	return nil
}

// key returns the verification key of kid, asking OnUnknownKey once for a
// kid it does not know.
func (i *Issuer) key(kid string) (ed25519.PublicKey, bool) {
	i.mu.RLock()
	k, ok := i.keys[kid]
	i.mu.RUnlock()
	if ok || i.unknown == nil || kid == "" {
		return k, ok
	}
	i.unknown(kid)
	i.mu.RLock()
	defer i.mu.RUnlock()
	k, ok = i.keys[kid]
	return k, ok
}

// Mint signs c. Issuer, Audience and (when zero) IssuedAt and ID are filled in.
//
// The payload is one struct marshalled once (keys in the order the jwt
// builder's map would sort them, so tokens are byte-for-byte what it
// produced) and signed by the Issuer's one go-jose signer: no map
// round-trips per token.
func (i *Issuer) Mint(c Claims) (string, error) {
	if c.IssuedAt.IsZero() {
		c.IssuedAt = i.now()
	}
	if c.ID == "" {
		c.ID = RandomID()
	}
	p := mintClaims{
		Account: c.Account, Audience: i.aud, Domain: c.Domain, Email: c.Email, Endpoint: c.Endpoint,
		Expiry: jwt.NewNumericDate(c.ExpiresAt), IssuedAt: jwt.NewNumericDate(c.IssuedAt),
		Issuer: i.iss, ID: c.ID, PreferredUsername: c.PreferredUsername, Session: c.Session,
		Subject: c.Subject, Type: c.Type, UPN: c.UPN,
	}
	if c.JKT != "" {
		p.Cnf = &cnf{JKT: c.JKT}
	}
	payload, err := gojson.Marshal(&p)
	if err != nil {
		return "", fmt.Errorf("token: encoding claims: %w", err)
	}
	sig, err := i.sign.Load().signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("token: signing: %w", err)
	}
	return sig.CompactSerialize()
}

// mintClaims is the payload of a minted token, its fields in key order.
type mintClaims struct {
	Account           string           `json:"acct,omitempty"`
	Audience          string           `json:"aud,omitempty"`
	Cnf               *cnf             `json:"cnf,omitempty"`
	Domain            string           `json:"domain,omitempty"`
	Email             string           `json:"email,omitempty"`
	Endpoint          string           `json:"endpoint_id,omitempty"`
	Expiry            *jwt.NumericDate `json:"exp,omitempty"`
	IssuedAt          *jwt.NumericDate `json:"iat,omitempty"`
	Issuer            string           `json:"iss,omitempty"`
	ID                string           `json:"jti,omitempty"`
	PreferredUsername string           `json:"preferred_username,omitempty"`
	Session           string           `json:"sid,omitempty"`
	Subject           string           `json:"sub,omitempty"`
	Type              string           `json:"token_type"`
	UPN               string           `json:"upn,omitempty"`
}

// verifyClaims is what Verify decodes a payload into, in one pass.
type verifyClaims struct {
	jwt.Claims
	privateClaims
}

// Verify checks the signature (EdDSA only, known key id), issuer, audience
// and expiry of tok and returns its claims. Every failure wraps ErrInvalid.
func (i *Issuer) Verify(tok string) (*Claims, error) {
	parsed, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(parsed.Signatures) != 1 {
		return nil, fmt.Errorf("%w: want one signature", ErrInvalid)
	}
	key, ok := i.key(parsed.Signatures[0].Header.KeyID)
	if !ok {
		return nil, fmt.Errorf("%w: unknown key id", ErrInvalid)
	}
	payload, err := parsed.Verify(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var vc verifyClaims
	if err := gojson.Unmarshal(payload, &vc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	std, pc := &vc.Claims, &vc.privateClaims
	if std.Expiry == nil {
		return nil, fmt.Errorf("%w: no exp", ErrInvalid)
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: i.iss, AnyAudience: jwt.Audience{i.aud}, Time: i.now()}, 0); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	c := &Claims{
		Issuer: std.Issuer, Subject: std.Subject, ID: std.ID,
		ExpiresAt: std.Expiry.Time().UTC(),
		Account:   pc.Account, Type: pc.Type, Endpoint: pc.Endpoint, Session: pc.Session,
		PreferredUsername: pc.PreferredUsername, UPN: pc.UPN, Email: pc.Email, Domain: pc.Domain,
	}
	if len(std.Audience) > 0 {
		c.Audience = std.Audience[0]
	}
	if std.IssuedAt != nil {
		c.IssuedAt = std.IssuedAt.Time().UTC()
	}
	if pc.Cnf != nil {
		c.JKT = pc.Cnf.JKT
	}
	return c, nil
}

// RandomID returns 128 random bits, base64url: token and record ids.
func RandomID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("token: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// LoadOrCreateKey reads an Ed25519 private key (PKCS #8 PEM) from path, or
// generates one and writes it atomically with mode 0600. created reports
// which happened.
func LoadOrCreateKey(path string) (key ed25519.PrivateKey, created bool, err error) {
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		blk, _ := pem.Decode(data)
		if blk == nil || !strings.Contains(blk.Type, "PRIVATE KEY") {
			return nil, false, fmt.Errorf("token: %s holds no PEM private key", path)
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, false, fmt.Errorf("token: parsing %s: %w", path, err)
		}
		ek, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, false, fmt.Errorf("token: %s is not an Ed25519 key", path)
		}
		return ek, false, nil
	case errors.Is(err, os.ErrNotExist):
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, false, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, false, err
		}
		if err := atomicfile.Write(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, false, err
		}
		return priv, true, nil
	default:
		return nil, false, fmt.Errorf("token: %w", err)
	}
}
