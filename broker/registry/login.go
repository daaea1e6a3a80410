package registry

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/edgetrust/edgetrust/protocol"
)

// LoginRequest is a user login from a device (SPEC S1–S4, S7).
type LoginRequest struct {
	APIKey string
	// AccountID names the account to log in to when no device token is
	// sent and the key belongs to an account above it (K5); "" = the key's
	// own account. With a device token the endpoint's account applies.
	AccountID string
	// DeviceToken is the device access token of the endpoint; required
	// unless the key allows untrusted endpoints (S2).
	DeviceToken string
	// JKT is the thumbprint of the key the caller proved on its transport:
	// the QUIC connection's key, or the key of a DPoP proof the HTTP
	// transport verified ("" if none). A token bound to a key is accepted
	// only with a proof of that key (T3).
	JKT string
	// Body and Signature are the exact request body and its decoded
	// HCP-Request-Signature (nil = none): the weaker proof of possession of
	// T3, checked with the endpoint's registered key when JKT is empty.
	Body      []byte
	Signature []byte
	// EndpointID is the endpoint the caller says it is on a transport that
	// proved its key (QUIC: the client id of the connection's HELLO); ""
	// for none. It counts only when that endpoint's key is the one proven
	// (JKT). Then a login without a device token is refused unless the
	// endpoint is trusted now (SPEC E5: untrust refuses its session
	// logins), and every refusal is audited with the endpoint as actor
	// (issue 12, point 4).
	EndpointID string
	// ProofError is a proof of possession the transport refused (a DPoP
	// proof that is malformed, stale or replayed). Once the key has passed
	// (a refused key answers first, K8), the login fails with
	// KindAccessDenied wrapping it.
	ProofError error
	// Verified is the transport's earlier verification of a device token
	// on this connection (VerifyDeviceToken); nil = none. It counts only
	// for the same DeviceToken, and only until the token expires.
	Verified *VerifiedDeviceToken
	Type     string
	Username string
	Domain   string
	UPN      string
	Password string
	CardID   string
	ShortID  string
	Remote   netip.Addr
}

// Login is LoginUser without the user.
func (r *Registry) Login(ctx context.Context, req LoginRequest) (*TokenPair, error) {
	tp, _, err := r.LoginUser(ctx, req)
	return tp, err
}

// LoginUser issues a user token for a person at a device and returns the
// user (without its password hash). Session types through a trusted
// endpoint are secure logins (S3): the transport vouches for the OS user.
//
// The key must pass K8 for the endpoint's account. Without a device token
// the key must allow untrusted endpoints (S2), and card and short-id logins
// need a key that also allows unauthenticated requests (S4). A device token
// must be valid, unrevoked, of an endpoint trusted now, bound to the
// endpoint's current key, and come with a proof of possession of that key
// (JKT, or Signature over Body). Users are looked up only in the
// endpoint's account (the key's target account without one); session,
// card and short-id logins never issue a token for a user holding a role
// (S3a); an unknown session user is created without roles unless the
// account forbids it (S7). Password logins check an Argon2id hash, are
// rate-limited with the administrators' sign-in, and look alike for every
// failure.
//
// Errors: KindInvalid, KindInvalidClient (every key refusal),
// KindAccessDenied (device token, endpoint trust or proof of possession),
// KindUnknownUser, KindLoginRefused, KindRateLimited.
//
// It is long because the checks of S2-S4 and S7 run in this order, in one
// transaction, with one audit row whatever the outcome; each step is a
// helper below.
func (r *Registry) LoginUser(ctx context.Context, req LoginRequest) (*TokenPair, *User, error) {
	switch req.Type {
	case protocol.LoginSessionUser, protocol.LoginSessionUserDomain, protocol.LoginUPN, protocol.LoginPassword, protocol.LoginCardID, protocol.LoginShortID:
	default:
		return nil, nil, E(KindInvalid, fmt.Sprintf("unknown login type %q (%s)", req.Type, strings.Join(protocol.LoginTypes(), ", ")), nil)
	}
	tp, u, err := r.loginUser(ctx, req)
	r.obs.Login(req.Type, outcome(err))
	return tp, u, err
}

// loginUser is LoginUser for a known login type.
func (r *Registry) loginUser(ctx context.Context, req LoginRequest) (*TokenPair, *User, error) {
	if err := validateLoginNames(&req); err != nil {
		return nil, nil, err
	}
	if len(req.Signature) > MaxSignatureBytes {
		return nil, nil, E(KindInvalid, "HCP-Request-Signature is too long", nil)
	}
	if err := r.Fresh(); err != nil {
		return nil, nil, err
	}
	if err := r.admitKey(ctx, "login."+req.Type, req.APIKey, req.Remote, loginName(&req)); err != nil {
		return nil, nil, err
	}
	now := r.now()
	// A bad device token is answered only once the key has passed.
	dev, devErr := r.deviceClaims(&req, now)
	// A password is checked outside the write transaction (Argon2id takes
	// a while): the transaction then insists on the same user and hash.
	var checked *User
	if req.Type == protocol.LoginPassword {
		err := r.store.View(ctx, func(tx Tx) error {
			sc, err := r.loginScope(tx, now, &req, dev, devErr)
			if err != nil {
				return err
			}
			checked, err = passwordUser(tx, sc.account, &req)
			if KindOf(err) == KindLoginRefused {
				checked, err = nil, nil // verifyPassword spends the same time
			}
			return err
		})
		if err == nil {
			err = r.passwordLimited(req.Username, req.Remote, now) // shared with SignIn (signin.go)
		}
		if err == nil {
			if err = verifyPassword(checked, req.Password); err != nil {
				r.passwordFailed(req.Username, req.Remote, now)
			}
		}
		if err != nil {
			return nil, nil, r.auditLoginFailure(ctx, &req, dev, err)
		}
	}
	var is *issued
	var user *User
	err := r.store.Update(ctx, func(stx Tx) error {
		is, user = nil, nil
		tx := r.cache.wrap(stx)
		sc, err := r.loginScope(tx, now, &req, dev, devErr)
		if err != nil {
			return err
		}
		u, err := r.loginTarget(tx, now, sc.account, &req, checked)
		if err != nil {
			return err
		}
		if u.Disabled {
			return E(KindLoginRefused, "this user cannot log in through a device", errors.New("user disabled"))
		}
		if err := accountLive(tx, u.AccountID); err != nil {
			if errors.Is(err, errAccountDisabled) {
				return E(KindLoginRefused, "this user cannot log in through a device", err)
			}
			return err
		}
		if req.Type != protocol.LoginPassword {
			grants, err := tx.ListGrants(u.ID)
			if err != nil {
				return internal("listing grants", err)
			}
			if len(grants) > 0 {
				return E(KindLoginRefused, "this user cannot log in through a device", errors.New("user holds a role (S3a)"))
			}
		}
		if err := recordUse(tx, now, sc.key, req.Remote); err != nil {
			return err
		}
		if sc.endpoint != nil {
			if err := seen(tx, now, sc.endpoint, req.Remote); err != nil {
				return err
			}
		}
		c := userClaims(u, sc.endpointID)
		if acct := sc.key.target; acct != nil && acct.ID == u.AccountID {
			// checkKey read this account in this transaction already.
			is, err = r.issueWith(tx, now, r.lifetimesFrom(acct), c, "")
		} else {
			is, err = r.issue(tx, now, c, "")
		}
		if err != nil {
			return err
		}
		user = u
		return audit(tx, now, actorOf(sc.endpointID, sc.key.key.ID), "login."+req.Type, sc.account, "user:"+u.ID, OutcomeSuccess, req.Remote,
			map[string]string{"username": u.Username, "key_id": sc.key.key.ID})
	})
	if err != nil {
		return nil, nil, r.auditLoginFailure(ctx, &req, dev, err)
	}
	tp, err := r.mint(is)
	if err != nil {
		return nil, nil, err
	}
	out := *user
	out.PasswordHash = ""
	return tp, &out, nil
}

// loginScope is where a login happens: the key that admitted it, the
// account users are looked up in, and the endpoint it came through.
type loginScope struct {
	key        *keyUse
	account    string
	endpointID string
	endpoint   *Endpoint // the trusted endpoint of the device token, if any
}

// loginScope checks the key first (K8), then the device token (devErr:
// why it did not verify) and its proof of possession, and the key's
// allowances (S2, S4).
func (r *Registry) loginScope(tx Tx, now time.Time, req *LoginRequest, dev *Claims, devErr error) (*loginScope, error) {
	target := req.AccountID
	if dev != nil {
		target = dev.Account
	}
	ku, err := r.checkKey(tx, now, req.APIKey, target, req.Remote)
	if err != nil {
		return nil, err
	}
	if devErr != nil {
		return nil, devErr
	}
	if req.ProofError != nil {
		return nil, E(KindAccessDenied, "the proof of possession was refused", req.ProofError)
	}
	if dev == nil {
		ep, err := provenEndpoint(tx, req)
		if err != nil {
			return nil, err
		}
		if ep != nil && ep.State != StateTrusted {
			return nil, E(KindAccessDenied, "this endpoint is not trusted", fmt.Errorf("endpoint is %s", ep.State))
		}
		if ep != nil {
			if err := accountLive(tx, ep.AccountID); err != nil {
				return nil, E(KindAccessDenied, "this endpoint is not trusted", err)
			}
		}
	}
	if dev == nil {
		if !ku.key.AllowUntrustedEndpoints {
			return nil, E(KindAccessDenied, "a trusted endpoint's device token is required", nil)
		}
		if (req.Type == protocol.LoginCardID || req.Type == protocol.LoginShortID) && !ku.key.AllowUnauthenticated {
			return nil, E(KindAccessDenied, "card and short-id logins need a trusted endpoint's device token, or a key that allows unauthenticated requests", nil)
		}
		return &loginScope{key: ku, account: ku.target.ID}, nil
	}
	if err := tokenLive(tx, dev); errors.Is(err, errTokenDead) {
		return nil, E(KindAccessDenied, "device token is invalid or expired", err)
	} else if err != nil {
		return nil, err
	}
	ep, err := trustedEndpoint(tx, dev.Subject)
	if err != nil {
		return nil, err
	}
	if ep.KeyThumbprint != dev.JKT {
		// Issued before the endpoint's key changed (E4): refresh it.
		return nil, E(KindAccessDenied, "device token is bound to another key", nil)
	}
	if dev.JKT != "" {
		proven := req.JKT
		if proven == "" && req.Signature != nil {
			if ku.target.Settings.RequireDPoP {
				return nil, E(KindAccessDenied, "this account requires a DPoP proof: HCP-Request-Signature is not accepted",
					errors.New("account requires DPoP; HCP-Request-Signature refused"))
			}
			pk, err := storedKey(ep.KeyType, ep.PublicKey)
			if err != nil {
				return nil, err
			}
			if pk.Verify(req.Body, req.Signature) == nil {
				proven = ep.KeyThumbprint
			}
		}
		if proven != dev.JKT {
			return nil, E(KindAccessDenied, "the device token needs proof of possession of the device key: a DPoP proof or HCP-Request-Signature", nil)
		}
	}
	return &loginScope{key: ku, account: ep.AccountID, endpointID: ep.ID, endpoint: ep}, nil
}

// provenEndpoint returns the endpoint req.EndpointID names when its key is
// the one the transport proved (req.JKT), or nil: an id the broker does
// not know, or one whose key the caller did not prove, is left to the
// key's allowances (S2), as before.
func provenEndpoint(tx Tx, req *LoginRequest) (*Endpoint, error) {
	if req.EndpointID == "" || req.JKT == "" {
		return nil, nil
	}
	ep, err := tx.GetEndpoint(req.EndpointID)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, internal("looking up endpoint", err)
	}
	if ep.KeyThumbprint != req.JKT {
		return nil, nil
	}
	return ep, nil
}

// loginTarget finds the user a login names in account. checked is the
// user whose password was verified (password logins).
func (r *Registry) loginTarget(tx Tx, now time.Time, account string, req *LoginRequest, checked *User) (*User, error) {
	switch req.Type {
	case protocol.LoginPassword:
		u, err := passwordUser(tx, account, req)
		if err != nil {
			return nil, err
		}
		if checked == nil || u.ID != checked.ID || u.PasswordHash != checked.PasswordHash {
			return nil, errPasswordLogin(errors.New("user or password changed during the login"))
		}
		return u, nil
	case protocol.LoginCardID, protocol.LoginShortID:
		f, what := UserFilter{AccountID: account, CardID: req.CardID}, "card"
		if req.Type == protocol.LoginShortID {
			f, what = UserFilter{AccountID: account, ShortID: req.ShortID}, "short id"
		}
		u, err := findUser(tx, f, nil)
		if err != nil {
			return nil, err
		}
		if u == nil {
			return nil, E(KindUnknownUser, "unknown user: no user of this account has this "+what, nil)
		}
		return u, nil
	}
	return r.findOrCreateSessionUser(tx, now, account, req)
}

// errPasswordLogin is every failure of a password login.
func errPasswordLogin(cause error) error {
	return E(KindLoginRefused, "login failed: wrong username or password", cause)
}

// passwordUser returns the one user of account with a password whose
// username (and domain) the login names, or, for a name with an "@", whose
// UPN it is. No such user, or several, is errPasswordLogin.
func passwordUser(tx Tx, account string, req *LoginRequest) (*User, error) {
	users, err := tx.FindUsers(UserFilter{AccountID: account, Username: req.Username, Domain: req.Domain})
	if err != nil {
		return nil, internal("finding user", err)
	}
	users = slices.DeleteFunc(users, func(u User) bool { return !strings.EqualFold(u.Domain, req.Domain) })
	if len(users) == 0 && req.Domain == "" && strings.Contains(req.Username, "@") {
		if users, err = tx.FindUsers(UserFilter{AccountID: account, UPN: req.Username}); err != nil {
			return nil, internal("finding user", err)
		}
	}
	users = slices.DeleteFunc(users, func(u User) bool { return u.PasswordHash == "" })
	if len(users) != 1 {
		return nil, errPasswordLogin(fmt.Errorf("%d users with a password match", len(users)))
	}
	return &users[0], nil
}

// verifyPassword checks password against u's hash; a nil u costs the same
// time as a wrong password, and a disabled user fails like it.
func verifyPassword(u *User, password string) error {
	if u == nil {
		_, _ = checkPassword(dummyHash(), password)
		return errPasswordLogin(errors.New("unknown user"))
	}
	ok, err := checkPassword(u.PasswordHash, password)
	if err != nil || !ok {
		return errPasswordLogin(errors.New("wrong password"))
	}
	if u.Disabled {
		return errPasswordLogin(errors.New("user disabled"))
	}
	return nil
}

func actorOf(endpointID, keyID string) string {
	if endpointID != "" {
		return "endpoint:" + endpointID
	}
	return "key:" + keyID
}

// auditLoginFailure audits a failed login and returns its answer (a key
// refusal may become the limited answer: keyRefused).
func (r *Registry) auditLoginFailure(ctx context.Context, req *LoginRequest, dev *Claims, err error) error {
	if KindOf(err) == KindInvalidClient {
		return r.keyRefused(ctx, "login."+req.Type, err, req.Remote, loginName(req))
	}
	if KindOf(err) == KindInternal {
		return err
	}
	now := r.now()
	actor, account := "anonymous", ""
	if dev != nil {
		actor, account = "endpoint:"+dev.Subject, dev.Account
	}
	detail := map[string]string{"reason": KindOf(err).String()}
	var e *Error
	if errors.As(err, &e) && e.Err != nil {
		detail["cause"] = e.Err.Error()
	}
	_ = r.store.Update(ctx, func(tx Tx) error {
		if dev == nil {
			// The endpoint the transport proved did it; the row belongs to
			// its account, so its administrators see it.
			if ep, _ := provenEndpoint(tx, req); ep != nil {
				actor, account = "endpoint:"+ep.ID, ep.AccountID
			}
		}
		return audit(tx, now, actor, "login."+req.Type, account, loginName(req), OutcomeFailure, req.Remote, detail)
	})
	return err
}

// loginName is the audit target of a login that failed: what it named,
// never a password (a card or short id is an identifier, like a username).
func loginName(req *LoginRequest) string {
	switch req.Type {
	case protocol.LoginCardID:
		return "card_id:" + req.CardID
	case protocol.LoginShortID:
		return "short_id:" + req.ShortID
	case protocol.LoginUPN:
		if req.UPN != "" {
			return "upn:" + req.UPN
		}
	}
	return "username:" + req.Username
}

func validateLoginNames(req *LoginRequest) error {
	for name, v := range map[string]string{"username": req.Username, "domain": req.Domain, "upn": req.UPN,
		"card_id": req.CardID, "short_id": req.ShortID} {
		if len(v) > maxTextField || strings.ContainsAny(v, "\x00\r\n") {
			return E(KindInvalid, name+" is too long or has control characters", nil)
		}
	}
	if len(req.Password) > maxPasswordBytes {
		return E(KindInvalid, fmt.Sprintf("password is longer than %d bytes", maxPasswordBytes), nil)
	}
	switch req.Type {
	case protocol.LoginUPN:
		if req.UPN == "" && req.Username == "" {
			return E(KindInvalid, "upn is required", nil)
		}
	case protocol.LoginSessionUserDomain:
		if req.Username == "" || req.Domain == "" {
			return E(KindInvalid, "username and domain are required", nil)
		}
	case protocol.LoginPassword:
		if req.Username == "" || req.Password == "" {
			return E(KindInvalid, "username and password are required", nil)
		}
	case protocol.LoginCardID:
		if req.CardID == "" {
			return E(KindInvalid, "card_id is required", nil)
		}
	case protocol.LoginShortID:
		if req.ShortID == "" {
			return E(KindInvalid, "short_id is required", nil)
		}
	default:
		if req.Username == "" {
			return E(KindInvalid, "username is required", nil)
		}
	}
	return nil
}

// maxPasswordBytes bounds a password (Argon2id reads all of it).
const maxPasswordBytes = 1024

// findOrCreateSessionUser finds the user a session login names in account,
// creating it (S7) when the account allows it. session_user names a user
// without a domain; session_user_domain one with that domain; upn the user
// with that UPN or, failing that, the user and domain it spells.
func (r *Registry) findOrCreateSessionUser(tx Tx, now time.Time, account string, req *LoginRequest) (*User, error) {
	u := &User{AccountID: account, Source: UserSourceSession}
	switch req.Type {
	case protocol.LoginUPN:
		upn := req.UPN
		if upn == "" {
			upn = req.Username
		}
		u.UPN = upn
		u.Username, u.Domain, _ = strings.Cut(upn, "@")
		found, err := findUser(tx, UserFilter{AccountID: account, UPN: upn}, nil)
		if err != nil || found != nil {
			return found, err
		}
	case protocol.LoginSessionUserDomain:
		u.Username, u.Domain = req.Username, req.Domain
	default:
		u.Username = req.Username
	}
	found, err := findUser(tx, UserFilter{AccountID: account, Username: u.Username, Domain: u.Domain},
		func(c *User) bool { return strings.EqualFold(c.Domain, u.Domain) })
	if err != nil || found != nil {
		return found, err
	}
	acct, err := tx.GetAccount(account)
	if err != nil {
		return nil, internal("looking up account", err)
	}
	if acct.DenyUserCreation {
		return nil, E(KindUnknownUser, "unknown user", nil)
	}
	u.ID, u.CreatedAt, u.UpdatedAt = newID(), now, now
	if err := tx.CreateUser(u); err != nil {
		if errors.Is(err, ErrConflict) {
			return nil, E(KindConflict, "user created concurrently; retry", err)
		}
		return nil, internal("creating user", err)
	}
	if err := audit(tx, now, "system", "user.create", account, "user:"+u.ID, OutcomeSuccess, netip.Addr{},
		map[string]string{"username": u.Username, "source": UserSourceSession}); err != nil {
		return nil, err
	}
	return u, nil
}

// findUser returns the first user matching f (and keep, when set), or nil.
func findUser(tx Tx, f UserFilter, keep func(*User) bool) (*User, error) {
	users, err := tx.FindUsers(f)
	if err != nil {
		return nil, internal("finding user", err)
	}
	for i := range users {
		if keep == nil || keep(&users[i]) {
			return &users[i], nil
		}
	}
	return nil, nil
}
