package registry

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// Session is a user's session (SPEC S6): one sign-in or login and the
// refreshes after it, which is one chain of refresh tokens. Its ID is the
// chain's id, which the user's access tokens carry as "sid". Ending a
// session revokes the chain: its refresh token stops working, and so do
// its access tokens, at once.
type Session struct {
	ID          string
	UserID      string
	AccountID   string
	EndpointID  string    // the endpoint the login came through; "" for a sign-in
	StartedAt   time.Time // the sign-in or login
	RefreshedAt time.Time // the latest refresh (StartedAt if none)
	ExpiresAt   time.Time // when its refresh token expires unless refreshed
	Current     bool      // the caller's own access token belongs to it
}

// errNoSession is what every session the caller may not see or end looks
// like, and one that is unknown or over.
func errNoSession(cause error) error { return E(KindNotFound, "no such session", cause) }

// sessionsOf resolves the user whose sessions p asks for: its own user for
// "" or its own id; another user needs perm at that user's account (one
// p cannot see is KindNotFound). A caller acting through an API key has
// no sessions of its own, even when the key runs as a user: the key holder
// is not that user (as UpdateUser reasons), so its run-as user's sessions
// are another user's, seen and ended only with perm at that user's account
// through the key's own grants. Without a user: KindNotFound.
func sessionsOf(tx Tx, p *Principal, userID string, perm Permission) (string, error) {
	if p == nil {
		return "", E(KindUnauthenticated, "sign in first", nil)
	}
	self := p.UserID != "" && p.KeyID == ""
	if userID == "" || (self && userID == p.UserID) {
		if !self {
			return "", E(KindNotFound, "a caller acting through an API key has no sessions of its own; name a user", nil)
		}
		return p.UserID, nil
	}
	u, err := userFor(tx, p, perm, userID)
	if err != nil {
		return "", err
	}
	return u.ID, nil
}

// liveSessions lists the live sessions of the user sessionsOf resolves,
// oldest first.
func liveSessions(tx Tx, p *Principal, userID string, perm Permission, now time.Time) ([]RefreshChain, error) {
	uid, err := sessionsOf(tx, p, userID, perm)
	if err != nil {
		return nil, err
	}
	chains, err := tx.ListRefreshChains(SubjectUser, uid, now)
	if err != nil {
		return nil, internal("listing sessions", err)
	}
	return chains, nil
}

func sessionOut(c *RefreshChain, p *Principal) Session {
	return Session{
		ID: c.ChainID, UserID: c.SubjectID, AccountID: c.AccountID, EndpointID: c.EndpointID,
		StartedAt: c.StartedAt, RefreshedAt: c.RefreshedAt, ExpiresAt: c.ExpiresAt,
		Current: p.SessionID != "" && p.SessionID == c.ChainID,
	}
}

// ListSessions lists the live sessions of a user, oldest first: the
// caller's own (userID "" or the caller's id), or, with ViewUser at that
// user's account, another user's (SPEC S6). Errors: KindNotFound (a user
// the caller cannot see), KindPermission.
func (r *Registry) ListSessions(ctx context.Context, p *Principal, userID string) ([]Session, error) {
	now := r.now()
	var out []Session
	err := r.store.View(ctx, func(tx Tx) error {
		out = nil
		chains, err := liveSessions(tx, p, userID, PermViewUser, now)
		if err != nil {
			return err
		}
		for i := range chains {
			out = append(out, sessionOut(&chains[i], p))
		}
		return nil
	})
	if err != nil {
		r.auditDenied(ctx, p, "session.list", sessionsTarget(userID), netip.Addr{}, err)
		return nil, err
	}
	return out, nil
}

// EndSession ends one session (SPEC S6): the caller's own, or, with
// ModifyUser at its user's account, another user's. Its refresh token and
// access tokens stop working at once; the end is audited
// ("session.end"). A session that is unknown, already over, or not the
// caller's to end answers KindNotFound (KindPermission for a user the
// caller sees without ModifyUser).
func (r *Registry) EndSession(ctx context.Context, p *Principal, sessionID string, remote netip.Addr) error {
	now := r.now()
	err := r.store.Update(ctx, func(tx Tx) error {
		if p == nil {
			return E(KindUnauthenticated, "sign in first", nil)
		}
		c, err := tx.GetRefreshChain(sessionID, now)
		if errors.Is(err, ErrNotFound) {
			return errNoSession(err)
		}
		if err != nil {
			return internal("looking up session", err)
		}
		if c.SubjectType != SubjectUser {
			return errNoSession(errors.New("a device's chain"))
		}
		if _, err := sessionsOf(tx, p, c.SubjectID, PermModifyUser); err != nil {
			if KindOf(err) == KindNotFound {
				return errNoSession(err)
			}
			return err
		}
		if !c.Live {
			return errNoSession(errors.New("session already over"))
		}
		return endChain(tx, now, p, c, remote)
	})
	r.auditDenied(ctx, p, "session.end", "session:"+sessionID, remote, err)
	return err
}

// EndSessions ends every live session of a user: the caller's own (userID
// "" or its own id: "sign out everywhere", this session included), or,
// with ModifyUser, another user's. It returns how many it ended. Errors as
// ListSessions.
func (r *Registry) EndSessions(ctx context.Context, p *Principal, userID string, remote netip.Addr) (int, error) {
	now := r.now()
	n := 0
	err := r.store.Update(ctx, func(tx Tx) error {
		n = 0
		chains, err := liveSessions(tx, p, userID, PermModifyUser, now)
		if err != nil {
			return err
		}
		for i := range chains {
			if err := endChain(tx, now, p, &chains[i], remote); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		r.auditDenied(ctx, p, "session.end", sessionsTarget(userID), remote, err)
		return 0, err
	}
	return n, nil
}

// sessionsTarget names, for the audit, whose sessions a call asked for.
func sessionsTarget(userID string) string {
	if userID == "" {
		return "sessions:self"
	}
	return "user:" + userID
}

func endChain(tx Tx, now time.Time, p *Principal, c *RefreshChain, remote netip.Addr) error {
	if err := tx.RevokeRefreshChain(c.ChainID, now); err != nil {
		return internal("ending session", err)
	}
	return audit(tx, now, p.Actor(), "session.end", c.AccountID, "user:"+c.SubjectID, OutcomeSuccess, remote,
		map[string]string{"session_id": c.ChainID})
}
