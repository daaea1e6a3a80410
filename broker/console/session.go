package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// Cookie names. The __Host- prefix makes browsers refuse them unless they
// are Secure, for the whole host (Path=/) and without a Domain.
const (
	sessionCookie = "__Host-edgetrust-console"
	signInCookie  = "__Host-edgetrust-signin" // the sign-in form's CSRF token
	// deviceCookie holds the device token of the last successful sign-in
	// from this browser (registry.SignIn: a flood of wrong passwords from
	// elsewhere never locks out a browser that signed in before).
	deviceCookie = "__Host-edgetrust-device"
)

// session is one signed-in console user. The browser holds only a random
// id; the store keys sessions by its hash, so the map holds no credential a
// memory dump could replay as a cookie. The user token and its refresh
// token are the registry's (SignIn): every request authenticates again with
// them, so a disabled user, a revoked role or an ended session takes
// effect at once.
type session struct {
	mu       sync.Mutex
	access   string
	refresh  string
	csrf     string
	username string
	lastSeen time.Time
	account  string // the account the user looks at; "" = every account it sees
	// flash is a message for the next page shown (then cleared); secret a
	// key value created or regenerated, shown once by the next key page.
	flash, flashErr string
	secret          *shownSecret
}

// shownSecret is a key value waiting to be shown once (SPEC K3).
type shownSecret struct {
	keyID, valueID, value string
}

// sessions holds the console's sessions in memory: a broker restart signs
// everyone out, and several brokers behind one address need sticky
// sessions until sessions move to the store.
type sessions struct {
	mu   sync.Mutex
	byID map[[32]byte]*session
}

func newSessions() *sessions { return &sessions{byID: map[[32]byte]*session{}} }

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashID(id string) [32]byte { return sha256.Sum256([]byte(id)) }

func (s *sessions) add(sess *session) string {
	id := randomToken()
	s.mu.Lock()
	s.byID[hashID(id)] = sess
	s.mu.Unlock()
	return id
}

func (s *sessions) get(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byID[hashID(id)]
}

func (s *sessions) remove(id string) {
	s.mu.Lock()
	delete(s.byID, hashID(id))
	s.mu.Unlock()
}

// expired removes and returns the sessions idle since before cutoff.
func (s *sessions) expired(cutoff time.Time) []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*session
	for id, sess := range s.byID {
		sess.mu.Lock()
		old := sess.lastSeen.Before(cutoff)
		sess.mu.Unlock()
		if old {
			delete(s.byID, id)
			out = append(out, sess)
		}
	}
	return out
}

// errNoSession is every reason a request has no usable session; the
// reason goes to the debug log only.
var errNoSession = errors.New("no console session")

// errStoreDown: the session could not be checked because the store is
// unavailable; the session is kept.
var errStoreDown = errors.New("the broker cannot read its store")

// principal returns the request's session and its principal: the cookie
// names a live session, not idle past the timeout, whose user token (or,
// once it expired, a refreshed one) still authenticates.
func (c *Console) principal(r *http.Request) (*session, *registry.Principal, error) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return nil, nil, errNoSession
	}
	sess := c.sessions.get(ck.Value)
	if sess == nil {
		return nil, nil, errNoSession
	}
	now := c.now()
	sess.mu.Lock()
	idle := now.Sub(sess.lastSeen) > c.idle
	access, refresh := sess.access, sess.refresh
	sess.mu.Unlock()
	if idle {
		c.sessions.remove(ck.Value)
		c.endRegistrySession(r.Context(), sess)
		return nil, nil, errNoSession
	}
	p, err := c.reg.Authenticate(r.Context(), access)
	if err != nil && r.Context().Err() != nil {
		// The browser went away (a page left, a stream closed) while the
		// store was read: no verdict on the session, which stays.
		return nil, nil, errNoSession
	}
	if err != nil && registry.KindOf(err) == registry.KindUnauthenticated && refresh != "" {
		// The access token may only have expired: refresh it once. A
		// refresh that fails (session ended, user disabled) ends this one.
		tp, rerr := c.reg.RefreshUser(r.Context(), refresh)
		if rerr == nil {
			sess.mu.Lock()
			sess.access, sess.refresh = tp.AccessToken, tp.RefreshToken
			sess.mu.Unlock()
			p, err = c.reg.Authenticate(r.Context(), tp.AccessToken)
		}
	}
	if k := registry.KindOf(err); err != nil && (k == registry.KindInternal || k == registry.KindUnavailable) {
		// The store could not be read (a database outage): no verdict on
		// the session, which stays; the caller answers 503.
		c.log.Warn("console session not checked: the store is unavailable", zap.Error(err))
		return nil, nil, errStoreDown
	}
	if err != nil {
		c.sessions.remove(ck.Value)
		c.log.Debug("console session refused", zap.Error(err))
		return nil, nil, errNoSession
	}
	sess.mu.Lock()
	sess.lastSeen = now
	sess.mu.Unlock()
	return sess, p, nil
}

// SessionAuth authenticates a request by its console cookie alone, for
// the read-only routes of the API that a console page calls (GET
// /api/v1/events): httpapi.Config.SessionAuth. It answers the same
// principal a console page would get, and KindUnauthenticated otherwise.
func (c *Console) SessionAuth(r *http.Request) (*registry.Principal, error) {
	_, p, err := c.principal(r)
	if errors.Is(err, errStoreDown) {
		return nil, registry.E(registry.KindUnavailable, "the broker cannot read fresh state; try again shortly", err)
	}
	if err != nil {
		return nil, registry.E(registry.KindUnauthenticated, "sign in to the console first", err)
	}
	return p, nil
}

// endRegistrySession ends the registry session behind a console session
// (best effort: a session already ended or expired needs nothing).
func (c *Console) endRegistrySession(ctx context.Context, sess *session) {
	sess.mu.Lock()
	access := sess.access
	sess.mu.Unlock()
	p, err := c.reg.Authenticate(ctx, access)
	if err != nil || p.SessionID == "" {
		return
	}
	if err := c.reg.EndSession(ctx, p, p.SessionID, netip.Addr{}); err != nil {
		c.log.Debug("ending registry session", zap.Error(err))
	}
}

// sweepIdle ends the sessions idle past the timeout; it runs at each
// sign-in, so abandoned sessions do not pile up.
func (c *Console) sweepIdle(ctx context.Context) {
	for _, sess := range c.sessions.expired(c.now().Add(-c.idle)) {
		c.endRegistrySession(ctx, sess)
	}
}

func setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
}

// csrfOK checks a form's CSRF token against want in constant time.
func csrfOK(r *http.Request, want string) bool {
	got := r.PostFormValue("csrf")
	return want != "" && got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// sameOrigin refuses a state-changing request whose Origin (sent by every
// browser on a POST) names another site, or none ("null"): a second line
// behind the CSRF token and SameSite=Strict. Console pages are served with
// Referrer-Policy: same-origin, under which browsers name the origin of a
// same-origin POST (under no-referrer they send "null").
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	return o == "" || o == "https://"+r.Host
}

func remote(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// signInPage shows the sign-in form with a fresh CSRF token, also set as a
// cookie the POST must match (a sign-in form has no session to hold it).
func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	if _, _, err := c.principal(r); err == nil {
		http.Redirect(w, r, "/queue", http.StatusSeeOther)
		return
	}
	c.showSignIn(w, r, http.StatusOK, "")
}

func (c *Console) showSignIn(w http.ResponseWriter, r *http.Request, status int, msg string) {
	tok := randomToken()
	setCookie(w, signInCookie, tok, 600)
	c.render(w, r, status, "signin", &page{Title: "Sign in", CSRF: tok, FlashErr: msg,
		Data: map[string]string{"Username": r.PostFormValue("username"), "Account": r.PostFormValue("account")}})
}

// signIn checks the form through registry.SignIn (rate-limited and audited
// there, S3b) and starts a console session.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	ck, err := r.Cookie(signInCookie)
	if err != nil || !sameOrigin(r) || !csrfOK(r, ck.Value) {
		c.showSignIn(w, r, http.StatusForbidden, "The sign-in form expired. Sign in again.")
		return
	}
	var device string
	if dc, err := r.Cookie(deviceCookie); err == nil {
		device = dc.Value
	}
	res, err := c.reg.SignIn(r.Context(), registry.SignInRequest{
		Username: r.PostFormValue("username"), Password: r.PostFormValue("password"),
		AccountID: r.PostFormValue("account"), DeviceToken: device, Remote: remote(r)})
	if err != nil {
		status := http.StatusUnauthorized
		if registry.KindOf(err) == registry.KindRateLimited {
			status = http.StatusTooManyRequests
		}
		c.showSignIn(w, r, status, registry.PublicMessage(err))
		return
	}
	tp, u := res.Tokens, res.User
	c.sweepIdle(r.Context())
	setCookie(w, deviceCookie, res.DeviceToken, int(c.reg.SignInDeviceTokenTTL()/time.Second))
	id := c.sessions.add(&session{access: tp.AccessToken, refresh: tp.RefreshToken, csrf: randomToken(),
		username: u.Username, lastSeen: c.now()})
	setCookie(w, signInCookie, "", -1)
	setCookie(w, sessionCookie, id, 0)
	http.Redirect(w, r, "/queue", http.StatusSeeOther)
}

// signOut ends the console session and the registry session behind it.
func (c *Console) signOut(w http.ResponseWriter, r *http.Request, sess *session, p *registry.Principal) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		c.sessions.remove(ck.Value)
	}
	if p.SessionID != "" {
		if err := c.reg.EndSession(r.Context(), p, p.SessionID, remote(r)); err != nil {
			c.log.Debug("ending registry session", zap.Error(err))
		}
	}
	setCookie(w, sessionCookie, "", -1)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}
