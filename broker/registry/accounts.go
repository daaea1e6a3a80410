package registry

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/edgetrust/edgetrust/broker/apikey"
)

// CreateAccountRequest creates an account below ParentID ("" = the
// caller's own account). Type "" = customer. A new customer account gets
// the predefined keys of SPEC K6.
type CreateAccountRequest struct {
	ParentID          string
	Name              string
	Type              AccountType
	TrustAllEndpoints bool
	DenyUserCreation  bool
	Settings          AccountSettings
	Remote            netip.Addr
}

// AccountUpdate changes the non-nil fields of an account.
type AccountUpdate struct {
	Name              *string
	Disabled          *bool
	TrustAllEndpoints *bool
	DenyUserCreation  *bool
	Settings          *AccountSettings
	Remote            netip.Addr
}

// Bounds of account settings; a zero setting means the default (lifetimes)
// or no limit (quotas, stale time).
const (
	minTokenTTL       = time.Minute
	maxDeviceTokenTTL = 24 * time.Hour
	maxUserTokenTTL   = 7 * 24 * time.Hour
	minRefreshTTL     = time.Hour
	maxRefreshTTL     = 10 * 365 * 24 * time.Hour
	minStaleAfter     = time.Hour
	maxStaleAfter     = 10 * 365 * 24 * time.Hour
)

// validateSettings checks an account's settings and says which one is wrong.
func validateSettings(s AccountSettings) error {
	for _, c := range []struct {
		name     string
		d        time.Duration
		min, max time.Duration
	}{
		{"device token lifetime", s.DeviceTokenTTL, minTokenTTL, maxDeviceTokenTTL},
		{"user token lifetime", s.UserTokenTTL, minTokenTTL, maxUserTokenTTL},
		{"refresh token lifetime", s.RefreshTTL, minRefreshTTL, maxRefreshTTL},
		{"stale time", s.StaleAfter, minStaleAfter, maxStaleAfter},
	} {
		if c.d != 0 && (c.d < c.min || c.d > c.max) {
			return E(KindInvalid, fmt.Sprintf("the %s must be 0 (the default) or between %s and %s", c.name, c.min, c.max), nil)
		}
	}
	if s.KeyQuota < 0 || s.EndpointQuota < 0 {
		return E(KindInvalid, "quotas must be 0 (no limit) or more", nil)
	}
	for name, v := range map[string]int{"pending_per_key_value": s.PendingPerKeyValue, "pending_per_account": s.PendingPerAccount} {
		if v < 0 || v > MaxPendingCap {
			return E(KindInvalid, fmt.Sprintf("%s must be 0 (the default) or between 1 and %d", name, MaxPendingCap), nil)
		}
	}
	if s.DeleteStale && s.StaleAfter == 0 {
		return E(KindInvalid, "deleting stale endpoints needs a stale time", nil)
	}
	return nil
}

// cleanName trims a name and checks it is present, short and printable.
func cleanName(what, s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxTextField || strings.ContainsFunc(s, isControl) {
		return "", E(KindInvalid, fmt.Sprintf("%s must be 1 to %d bytes without control characters", what, maxTextField), nil)
	}
	return s, nil
}

// checkText checks an optional field's length and characters.
func checkText(what, s string, max int) error {
	if len(s) > max || strings.ContainsFunc(s, isControl) {
		return E(KindInvalid, fmt.Sprintf("%s must be at most %d bytes without control characters", what, max), nil)
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// quotaExceeded is the cause of a KindQuota error, for the audit trail.
type quotaExceeded struct {
	account string
	actor   string
}

func (q *quotaExceeded) Error() string { return "quota reached" }

// quotaError names the account and its quota (SPEC K9).
func quotaError(a *Account, quota int, what, actor string) error {
	return E(KindQuota, fmt.Sprintf("account %q has reached its quota of %d %s", a.Name, quota, what),
		&quotaExceeded{account: a.ID, actor: actor})
}

// auditQuota records, in its own transaction, a change refused by a quota.
func (r *Registry) auditQuota(ctx context.Context, action, target string, remote netip.Addr, err error) {
	var q *quotaExceeded
	if !errors.As(err, &q) {
		return
	}
	now := r.now()
	_ = r.store.Update(ctx, func(tx Tx) error {
		return audit(tx, now, q.actor, action, q.account, target, OutcomeFailure, remote,
			map[string]string{"reason": PublicMessage(err)})
	})
}

// Names of the predefined keys of every customer account (SPEC K6).
var predefinedKeys = []struct {
	name string
	typ  KeyType
}{
	{"Default key for client and gateway", KeyGeneral},
	{"Chrome", KeyChrome},
	{"Embedded", KeyEmbedded},
	{"Edge", KeyEdge},
}

// createPredefinedKeys gives a customer account the keys of SPEC K6: every
// flag off, each with one value whose secret is generated and thrown away,
// so no one can use it until an admin regenerates it.
func createPredefinedKeys(tx Tx, now time.Time, actor, accountID string) error {
	for _, pk := range predefinedKeys {
		_, publicID, err := apikey.Generate()
		if err != nil {
			return internal("generating key", err)
		}
		unusable, _, err := apikey.Generate() // hashed in place of the value: nobody holds it
		if err != nil {
			return internal("generating key", err)
		}
		k := &APIKey{ID: newID(), AccountID: accountID, Type: pk.typ, Name: pk.name, Active: true,
			Predefined: true, CreatedBy: actor, CreatedAt: now, UpdatedAt: now}
		if err := tx.CreateAPIKey(k); err != nil {
			return internal("creating predefined key", err)
		}
		v := &KeyValue{ID: newID(), KeyID: k.ID, PublicID: publicID, SecretHash: apikey.Hash(unusable),
			Description: "predefined value: regenerate it to use it", CreatedAt: now}
		if err := tx.CreateKeyValue(v); err != nil {
			return internal("creating predefined key value", err)
		}
		if err := audit(tx, now, actor, "apikey.create", accountID, "apikey:"+k.ID, OutcomeSuccess, netip.Addr{},
			map[string]string{"name": k.Name, "type": string(k.Type), "predefined": "true"}); err != nil {
			return err
		}
	}
	return nil
}

// CreateAccount creates an account; the caller needs ModifyAccount at the
// parent. Errors: KindInvalid, KindNotFound, KindPermission.
func (r *Registry) CreateAccount(ctx context.Context, p *Principal, req CreateAccountRequest) (*Account, error) {
	if p == nil {
		return nil, E(KindUnauthenticated, "sign in first", nil)
	}
	name, err := cleanName("an account name", req.Name)
	if err != nil {
		return nil, err
	}
	if req.Type == "" {
		req.Type = AccountCustomer
	}
	if req.Type != AccountVendor && req.Type != AccountCustomer {
		return nil, E(KindInvalid, fmt.Sprintf("unknown account type %q (vendor, customer)", req.Type), nil)
	}
	if err := validateSettings(req.Settings); err != nil {
		return nil, err
	}
	if req.ParentID == "" {
		req.ParentID = p.AccountID
	}
	now := r.now()
	var out *Account
	err = r.store.Update(ctx, func(tx Tx) error {
		if err := authorize(tx, p, PermModifyAccount, req.ParentID); err != nil {
			return err
		}
		parent, err := tx.GetAccount(req.ParentID)
		if err != nil {
			return internal("looking up account", err)
		}
		if parent.Type == AccountCustomer && req.Type == AccountVendor {
			return E(KindInvalid, "a vendor account cannot be created under a customer account", nil)
		}
		if err := checkSiblingName(tx, parent.ID, name, ""); err != nil {
			return err
		}
		a := &Account{ID: newID(), ParentID: parent.ID, Name: name, Type: req.Type,
			TrustAllEndpoints: req.TrustAllEndpoints, DenyUserCreation: req.DenyUserCreation,
			Settings: req.Settings, CreatedAt: now, UpdatedAt: now}
		if err := tx.CreateAccount(a); err != nil {
			if errors.Is(err, ErrConflict) {
				return nameTaken(tx, a.ParentID, a.Name, err)
			}
			return internal("creating account", err)
		}
		detail := map[string]string{"name": a.Name, "type": string(a.Type), "parent_id": a.ParentID}
		addSettingsDetail(detail, a)
		if err := audit(tx, now, p.Actor(), "account.create", a.ID, "account:"+a.ID, OutcomeSuccess, req.Remote, detail); err != nil {
			return err
		}
		if a.Type == AccountCustomer {
			if err := createPredefinedKeys(tx, now, p.Actor(), a.ID); err != nil {
				return err
			}
		}
		out = a
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// addSettingsDetail records an account's flags and settings in an audit detail.
func addSettingsDetail(d map[string]string, a *Account) {
	s := a.Settings
	d["disabled"] = fmt.Sprint(a.Disabled)
	d["trust_all_endpoints"] = fmt.Sprint(a.TrustAllEndpoints)
	d["deny_user_creation"] = fmt.Sprint(a.DenyUserCreation)
	d["device_token_ttl"] = s.DeviceTokenTTL.String()
	d["user_token_ttl"] = s.UserTokenTTL.String()
	d["refresh_ttl"] = s.RefreshTTL.String()
	d["key_quota"] = fmt.Sprint(s.KeyQuota)
	d["endpoint_quota"] = fmt.Sprint(s.EndpointQuota)
	d["stale_after"] = s.StaleAfter.String()
	d["delete_stale"] = fmt.Sprint(s.DeleteStale)
	d["require_endpoint_keys"] = fmt.Sprint(s.RequireEndpointKeys)
	d["require_dpop"] = fmt.Sprint(s.RequireDPoP)
	d["lock_out_clones"] = fmt.Sprint(s.LockOutClones)
	d["pending_per_key_value"] = fmt.Sprint(s.PendingPerKeyValue)
	d["pending_per_account"] = fmt.Sprint(s.PendingPerAccount)
}

// GetAccount returns an account the caller holds ViewAccount at.
// Errors: KindNotFound, KindPermission.
func (r *Registry) GetAccount(ctx context.Context, p *Principal, id string) (*Account, error) {
	var out *Account
	err := r.store.View(ctx, func(tx Tx) error {
		if err := authorize(tx, p, PermViewAccount, id); err != nil {
			return err
		}
		var err error
		out, err = tx.GetAccount(id)
		if err != nil {
			return internal("looking up account", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateAccount renames, disables or changes the settings of an account;
// the caller needs ModifyAccount there. The controls an account's parent
// sets over it — disabled, the quotas and the token lifetimes — need
// ModifyAccount at the parent (for a root account, at itself): a customer
// admin cannot lift its vendor's limits or re-enable its own account.
// Disabling an account refuses every key of it and below (K8), and every
// sign-in, token and login of its users. A caller cannot disable its own
// account. Errors: KindInvalid, KindNotFound, KindPermission.
func (r *Registry) UpdateAccount(ctx context.Context, p *Principal, id string, u AccountUpdate) (*Account, error) {
	if p == nil {
		return nil, E(KindUnauthenticated, "sign in first", nil)
	}
	var name string
	if u.Name != nil {
		var err error
		if name, err = cleanName("an account name", *u.Name); err != nil {
			return nil, err
		}
	}
	if u.Settings != nil {
		if err := validateSettings(*u.Settings); err != nil {
			return nil, err
		}
	}
	now := r.now()
	var out *Account
	err := r.store.Update(ctx, func(tx Tx) error {
		if err := authorize(tx, p, PermModifyAccount, id); err != nil {
			return err
		}
		a, err := tx.GetAccount(id)
		if err != nil {
			return internal("looking up account", err)
		}
		if c := parentControls(a, u); c != "" {
			above := a.ParentID
			if above == "" {
				above = a.ID
			}
			if err := authorize(tx, p, PermModifyAccount, above); err != nil {
				return E(KindPermission, "only an administrator of the parent account can change "+c, err)
			}
		}
		if u.Name != nil {
			if err := checkSiblingName(tx, a.ParentID, name, a.ID); err != nil {
				return err
			}
			a.Name = name
		}
		if u.Disabled != nil {
			if *u.Disabled && !a.Disabled && id == p.AccountID {
				return E(KindInvalid, "you cannot disable your own account", nil)
			}
			a.Disabled = *u.Disabled
		}
		if u.TrustAllEndpoints != nil {
			a.TrustAllEndpoints = *u.TrustAllEndpoints
		}
		if u.DenyUserCreation != nil {
			a.DenyUserCreation = *u.DenyUserCreation
		}
		if u.Settings != nil {
			a.Settings = *u.Settings
		}
		a.UpdatedAt = now
		if err := tx.UpdateAccount(a); err != nil {
			if errors.Is(err, ErrConflict) {
				return nameTaken(tx, a.ParentID, a.Name, err)
			}
			return internal("updating account", err)
		}
		detail := map[string]string{"name": a.Name}
		addSettingsDetail(detail, a)
		out = a
		return audit(tx, now, p.Actor(), "account.update", a.ID, "account:"+a.ID, OutcomeSuccess, u.Remote, detail)
	})
	if err != nil {
		r.auditDenied(ctx, p, "account.update", "account:"+id, u.Remote, err)
		return nil, err
	}
	return out, nil
}

// parentControls names the controls of a's parent that u would change
// (disabled, quotas, token lifetimes), or "" if it changes none.
func parentControls(a *Account, u AccountUpdate) string {
	var c []string
	if u.Disabled != nil && *u.Disabled != a.Disabled {
		c = append(c, "disabled")
	}
	if s := u.Settings; s != nil {
		if s.KeyQuota != a.Settings.KeyQuota || s.EndpointQuota != a.Settings.EndpointQuota {
			c = append(c, "quotas")
		}
		if s.DeviceTokenTTL != a.Settings.DeviceTokenTTL || s.UserTokenTTL != a.Settings.UserTokenTTL || s.RefreshTTL != a.Settings.RefreshTTL {
			c = append(c, "token lifetimes")
		}
		if s.PendingPerKeyValue != a.Settings.PendingPerKeyValue || s.PendingPerAccount != a.Settings.PendingPerAccount {
			c = append(c, "pending caps")
		}
	}
	return strings.Join(c, ", ")
}

// accountLive refuses, with errAccountDisabled, an account that is
// disabled or lies below a disabled one (its users cannot sign in, use
// tokens or log in); a store failure is an internal error.
func accountLive(tx Tx, accountID string) error {
	chain, err := ancestors(tx, accountID)
	if err != nil {
		return internal("walking account tree", err)
	}
	for _, a := range chain {
		if a.Disabled {
			return errAccountDisabled
		}
	}
	return nil
}

// errAccountDisabled is the cause of refusing a user or endpoint of a
// disabled account.
var errAccountDisabled = errors.New("account disabled")

// ListAccounts lists the accounts where the caller holds ViewAccount.
func (r *Registry) ListAccounts(ctx context.Context, p *Principal) ([]Account, error) {
	var out []Account
	err := r.store.View(ctx, func(tx Tx) error {
		if p == nil {
			return E(KindUnauthenticated, "sign in first", nil)
		}
		var err error
		out, err = visibleAccounts(tx, p, PermViewAccount)
		return err
	})
	return out, err
}

// ancestors returns the account and its ancestors, nearest first.
func ancestors(tx Tx, accountID string) ([]*Account, error) {
	return walkUp(accountID, tx.GetAccount)
}

// walkUp follows parent links from id through get, refusing loops.
func walkUp(id string, get func(string) (*Account, error)) ([]*Account, error) {
	var out []*Account
	for id != "" {
		if len(out) > 64 || slices.ContainsFunc(out, func(a *Account) bool { return a.ID == id }) {
			return nil, fmt.Errorf("account tree loops at %s", id)
		}
		a, err := get(id)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
		id = a.ParentID
	}
	return out, nil
}

func accountIDs(chain []*Account) []string {
	ids := make([]string, len(chain))
	for i, a := range chain {
		ids[i] = a.ID
	}
	return ids
}

// forEachAccount calls fn with every account and the ids of its chain
// (itself first), from one read of the account table.
func forEachAccount(tx Tx, fn func(a *Account, chain []string)) error {
	all, err := tx.ListAccounts()
	if err != nil {
		return internal("listing accounts", err)
	}
	byID := make(map[string]*Account, len(all))
	for i := range all {
		byID[all[i].ID] = &all[i]
	}
	get := func(id string) (*Account, error) {
		if a, ok := byID[id]; ok {
			return a, nil
		}
		return nil, fmt.Errorf("account %s: %w", id, ErrNotFound)
	}
	for i := range all {
		chain, err := walkUp(all[i].ID, get)
		if err != nil {
			return internal("walking account tree", err)
		}
		fn(&all[i], accountIDs(chain))
	}
	return nil
}

// accountSets returns the ids of the accounts where p holds perm, and the
// same set with every ancestor added.
func accountSets(tx Tx, p *Principal, perm Permission) (visible, withAncestors map[string]bool, err error) {
	visible, withAncestors = map[string]bool{}, map[string]bool{}
	err = forEachAccount(tx, func(a *Account, chain []string) {
		if p.check(chain, perm) != nil {
			return
		}
		visible[a.ID] = true
		for _, id := range chain {
			withAncestors[id] = true
		}
	})
	if err != nil {
		return nil, nil, err
	}
	return visible, withAncestors, nil
}

// AccountNameKey is the form of an account name that is unique among the
// accounts of one parent: names compare case-insensitively, by Unicode
// simple case folding (as strings.EqualFold), so "Acme Corp" and "ACME
// CORP" are one name. Each rune becomes the smallest of its folding orbit.
// Stores index it (SQLite's lower() folds ASCII only).
func AccountNameKey(name string) string {
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, name)
}

// checkSiblingName refuses name when another account below parentID
// (other than self, the account being renamed) has it, compared by
// AccountNameKey.
func checkSiblingName(tx Tx, parentID, name, self string) error {
	all, err := tx.ListAccounts()
	if err != nil {
		return internal("listing accounts", err)
	}
	key := AccountNameKey(name)
	for _, a := range all {
		if a.ParentID == parentID && a.ID != self && AccountNameKey(a.Name) == key {
			return nameTaken(tx, parentID, a.Name, nil)
		}
	}
	return nil
}

// nameTaken is the KindConflict error for a name a sibling has: it names
// the name and the parent.
func nameTaken(tx Tx, parentID, name string, cause error) error {
	where := "at the top of the account tree"
	if parentID != "" {
		if p, err := tx.GetAccount(parentID); err == nil {
			where = fmt.Sprintf("under %q", p.Name)
		}
	}
	return E(KindConflict, fmt.Sprintf("an account named %q already exists %s (names are unique among siblings, ignoring case); choose another name", name, where), cause)
}

// AccountRename is one account renamed by RenameDuplicateAccounts.
type AccountRename struct {
	AccountID string
	ParentID  string
	From, To  string
}

// RenameDuplicateAccounts makes every account's name unique among its
// siblings, for a store upgrading data written before the rule held (the
// walkthrough run twice makes two "Acme Corp"). In each group of siblings
// with one AccountNameKey, the first created (then lowest id) keeps its
// name and each later one becomes "NAME (2)", "NAME (3)"..., skipping names
// taken. Each rename is written to the account and audited as
// account.rename by "system". Stores call it in one Update before they
// enforce uniqueness; it refuses nothing.
func RenameDuplicateAccounts(tx Tx, now time.Time) ([]AccountRename, error) {
	all, err := tx.ListAccounts() // by CreatedAt, then ID
	if err != nil {
		return nil, internal("listing accounts", err)
	}
	type sibling struct{ parent, key string }
	taken := map[sibling]bool{}
	for _, a := range all {
		taken[sibling{a.ParentID, AccountNameKey(a.Name)}] = true
	}
	kept := map[sibling]bool{}
	var out []AccountRename
	for i := range all {
		a := &all[i]
		s := sibling{a.ParentID, AccountNameKey(a.Name)}
		if !kept[s] || a.Name == "" { // the registry names every account; a store may not
			kept[s] = true
			continue
		}
		var name string
		for n := 2; ; n++ {
			name = fmt.Sprintf("%s (%d)", a.Name, n)
			if ns := (sibling{a.ParentID, AccountNameKey(name)}); !taken[ns] {
				taken[ns], kept[ns] = true, true
				break
			}
		}
		rn := AccountRename{AccountID: a.ID, ParentID: a.ParentID, From: a.Name, To: name}
		a.Name, a.UpdatedAt = name, now
		if err := tx.UpdateAccount(a); err != nil {
			return nil, internal("renaming account", err)
		}
		if err := audit(tx, now, "system", "account.rename", a.ID, "account:"+a.ID, OutcomeSuccess, netip.Addr{},
			map[string]string{"from": rn.From, "to": rn.To, "reason": "another account below the same parent has this name"}); err != nil {
			return nil, err
		}
		out = append(out, rn)
	}
	return out, nil
}
