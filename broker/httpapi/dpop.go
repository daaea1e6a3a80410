package httpapi

import (
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/internal/logfield"
	"github.com/edgetrust/edgetrust/protocol"
	"github.com/edgetrust/edgetrust/protocol/api"
)

// RFC 9449 DPoP proofs (SPEC T3): a JWS in compact form whose header
// carries typ "dpop+jwt", the algorithm (EdDSA, or RS256 for RSA device
// keys) and the device's public key as "jwk", and whose claims name the
// request (htm, htu), a jti used once, iat, the broker's nonce, and ath,
// the hash of the access token it goes with. The header's key is the key
// proven: its RFC 7638 thumbprint must be the device token's cnf.jkt.

// maxDPoPProof bounds a DPoP header (an RSA-8192 key and signature fit).
const maxDPoPProof = 8 << 10

// dpopTyp is the JOSE typ of a DPoP proof.
const dpopTyp = "dpop+jwt"

// dpopAlgs are the algorithms a proof may use: none, HS* and the rest are
// refused while parsing.
var dpopAlgs = []jose.SignatureAlgorithm{jose.EdDSA, jose.RS256}

// dpopProof is a DPoP proof whose signature verified.
type dpopProof struct {
	jkt   string // thumbprint of the key that signed it
	jti   string
	htm   string
	htu   string
	iat   time.Time
	nonce string
	ath   string
}

// dpopError is a refused DPoP proof, answered 401 with
// "WWW-Authenticate: DPoP error=..." (RFC 9449 §7.1, §9): code is
// use_dpop_nonce (retry with the DPoP-Nonce header's nonce) or
// invalid_dpop_proof. msg is safe to show.
type dpopError struct {
	code  string
	msg   string
	cause error
}

func (e *dpopError) Error() string {
	if e.cause != nil {
		return e.code + ": " + e.msg + ": " + e.cause.Error()
	}
	return e.code + ": " + e.msg
}

func (e *dpopError) Unwrap() error { return e.cause }

func badProof(msg string, cause error) *dpopError {
	return &dpopError{code: api.CodeInvalidDPoPProof, msg: msg, cause: cause}
}

// dpopClaims are the claims of a proof. iat is a number (RFC 7519 allows
// fractions).
type dpopClaims struct {
	JTI   string   `json:"jti"`
	HTM   string   `json:"htm"`
	HTU   string   `json:"htu"`
	IAT   *float64 `json:"iat"`
	Nonce string   `json:"nonce"`
	ATH   string   `json:"ath"`
}

// parseDPoP parses a DPoP proof and verifies its signature with the key of
// its header. Every error is a *dpopError (invalid_dpop_proof) whose
// message names the problem, never a value of the proof.
func parseDPoP(s string) (*dpopProof, error) {
	if s == "" || len(s) > maxDPoPProof {
		return nil, badProof("the DPoP header must hold one proof of at most 8 KiB", nil)
	}
	if strings.HasPrefix(strings.TrimSpace(s), "{") {
		return nil, badProof("a DPoP proof is a JWS in compact form, not JSON", nil)
	}
	jws, err := jose.ParseSignedCompact(s, dpopAlgs)
	if err != nil {
		return nil, badProof("the DPoP proof is not a JWS signed with EdDSA or RS256", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, badProof("the DPoP proof must have one signature", nil)
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != dpopTyp {
		return nil, badProof(`the DPoP proof's header must have typ "dpop+jwt"`, nil)
	}
	jwk := h.JSONWebKey
	if jwk == nil || !jwk.Valid() || !jwk.IsPublic() {
		return nil, badProof(`the DPoP proof's header must carry the device's public key as "jwk"`, nil)
	}
	switch k := jwk.Key.(type) {
	case ed25519.PublicKey:
		if h.Algorithm != string(jose.EdDSA) {
			return nil, badProof("an Ed25519 key signs with EdDSA", nil)
		}
	case *rsa.PublicKey:
		if h.Algorithm != string(jose.RS256) {
			return nil, badProof("an RSA key signs with RS256", nil)
		}
		if bits := k.N.BitLen(); bits < 2048 || bits > 8192 {
			return nil, badProof("an RSA key has 2048 to 8192 bits", nil)
		}
	default:
		return nil, badProof("the DPoP key must be Ed25519 or RSA", nil)
	}
	payload, err := jws.Verify(jwk.Key)
	if err != nil {
		return nil, badProof("the DPoP proof's signature does not verify", err)
	}
	var c dpopClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, badProof("the DPoP proof's claims are not a JSON object of the right types", err)
	}
	switch {
	case c.JTI == "" || len(c.JTI) > registry.MaxDPoPJTI:
		return nil, badProof("the DPoP proof needs a jti of at most 256 bytes", nil)
	case c.HTM == "" || c.HTU == "":
		return nil, badProof("the DPoP proof needs htm and htu", nil)
	case c.IAT == nil || math.IsNaN(*c.IAT) || math.IsInf(*c.IAT, 0) || *c.IAT < 0 || *c.IAT > 1<<40:
		return nil, badProof("the DPoP proof needs iat, a time in seconds", nil)
	}
	jkt, err := protocol.Thumbprint(jwk.Key)
	if err != nil {
		return nil, badProof("the DPoP proof's key has no thumbprint", err)
	}
	return &dpopProof{
		jkt: jkt, jti: c.JTI, htm: c.HTM, htu: c.HTU, nonce: c.Nonce, ath: c.ATH,
		iat: time.Unix(int64(*c.IAT), 0).UTC(),
	}, nil
}

// checkRequest checks that the proof names this request (htm, htu) and,
// when an access token goes with it, that token (ath). iat is not
// compared with the broker's clock: devices' clocks may be wrong, and the
// broker's nonce makes the proof fresh.
func (p *dpopProof) checkRequest(r *http.Request, accessToken string) error {
	if p.htm != r.Method {
		return badProof("the DPoP proof's htm is not this request's method", nil)
	}
	if !sameTarget(p.htu, r) {
		return badProof("the DPoP proof's htu is not this request's URL (scheme, host and path)", nil)
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		want := base64.RawURLEncoding.EncodeToString(sum[:])
		if subtle.ConstantTimeCompare([]byte(p.ath), []byte(want)) != 1 {
			return badProof("the DPoP proof's ath is not the hash of the access token sent", nil)
		}
	}
	return nil
}

// sameTarget reports whether htu names the URL r was sent to, without
// query and fragment, compared after RFC 3986 syntax-based normalisation
// of the scheme, host and default port.
func sameTarget(htu string, r *http.Request) bool {
	u, err := url.Parse(htu)
	if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" {
		return false
	}
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	if !strings.EqualFold(u.Scheme, scheme) {
		return false
	}
	if normHost(u.Host, scheme) != normHost(r.Host, scheme) {
		return false
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return path == r.URL.EscapedPath()
}

func normHost(h, scheme string) string {
	h = strings.ToLower(h)
	switch {
	case scheme == "https" && strings.HasSuffix(h, ":443"):
		return strings.TrimSuffix(h, ":443")
	case scheme == "http" && strings.HasSuffix(h, ":80"):
		return strings.TrimSuffix(h, ":80")
	}
	return h
}

// writeDPoPError answers a refused DPoP proof: 401, the RFC 9449
// WWW-Authenticate challenge and the JSON error body. The DPoP-Nonce
// header is already set.
func (a *API) writeDPoPError(w http.ResponseWriter, r *http.Request, e *dpopError) {
	level := zapcore.WarnLevel
	if e.code == api.CodeUseDPoPNonce {
		level = zapcore.DebugLevel // the normal first step of a DPoP client
	}
	a.log.Log(level, "DPoP proof refused",
		zap.String(logfield.Method, r.Method), zap.String(logfield.Path, r.URL.Path), zap.Int(logfield.Status, http.StatusUnauthorized),
		zap.String(logfield.Kind, e.code), zap.String(logfield.Remote, remote(r).String()), zap.String(logfield.Error, e.Error()))
	desc := strings.ReplaceAll(e.msg, `"`, `'`) // a quoted-string of RFC 9110
	w.Header().Set("WWW-Authenticate", `DPoP algs="EdDSA RS256", error="`+e.code+`", error_description="`+desc+`"`)
	writeJSON(w, http.StatusUnauthorized, api.ErrorResponse{Error: e.code, ErrorDescription: e.msg})
}

// dpopErrorIn returns the *dpopError in err's chain, or nil.
func dpopErrorIn(err error) *dpopError {
	var e *dpopError
	if errors.As(err, &e) {
		return e
	}
	return nil
}
