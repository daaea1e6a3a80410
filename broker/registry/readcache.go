package registry

import (
	"slices"
	"sync"
	"time"
)

// Logins served from memory (issue 17, point 1).
//
// A session login reads the same rows over and over: the key value and its
// key, the account chain, the endpoint, the user and whether the user holds
// a role. readCache keeps them in memory across transactions, valid for one
// cache generation: the meta row CacheGenerationKey, which the store sets to
// a value never used before in every transaction that writes one of those
// tables (triggers of sqlite 0013 / postgres 0006; only the last-use columns
// of key values and endpoints, which logins write themselves, an endpoint's
// updated_at alone, which every re-registration writes, and new endpoints
// are left out: so a cached endpoint's LastSeen and UpdatedAt may be older
// than the store's, and nothing a login decides reads them but seen()).
// Each login transaction reads the generation (one primary-key read) before
// anything else and uses the memory only while it is the one the memory was
// filled under; any other value empties it.
//
// So nothing a login decides on can be older than the generation it read in
// its own transaction: a regenerated or revoked key value, an untrusted
// endpoint, a disabled account, a new grant all change the generation in
// the transaction that makes them, and the next login on every broker
// sharing the store reads them from the store (SPEC K4: the old secret stops
// working at once, on every broker). A batch that fails to commit takes its
// generation with it; the value that stays differs from the one the memory
// was filled under, so what was read from the batch's uncommitted writes
// goes too.

// CacheGenerationKey is the meta row holding the cache generation.
const CacheGenerationKey = "cache_generation"

// maxCachedRows bounds each kind of row held; a full map is emptied (so
// more than this many endpoints logging in by turns read the store more).
const maxCachedRows = 1 << 16

// readCache is the memory of the login path of one Registry.
type readCache struct {
	mu        sync.Mutex
	gen       string
	accounts  map[string]Account
	keys      map[string]APIKey
	values    map[string]KeyValue // by public id
	valueIDs  map[string]string   // value id -> public id
	endpoints map[string]Endpoint
	users     map[UserFilter][]User
	grants    map[string][]Grant
	// hits counts the rows served from memory (CacheHitsForTest).
	hits int64
}

func newReadCache() *readCache {
	c := &readCache{}
	c.resetLocked("")
	return c
}

func (c *readCache) resetLocked(gen string) {
	c.gen = gen
	c.accounts = make(map[string]Account)
	c.keys = make(map[string]APIKey)
	c.values = make(map[string]KeyValue)
	c.valueIDs = make(map[string]string)
	c.endpoints = make(map[string]Endpoint)
	c.users = make(map[UserFilter][]User)
	c.grants = make(map[string][]Grant)
}

// wrap returns tx reading through the cache for the generation tx reads
// now. Without a generation (a store that keeps none, or a read that
// failed) it is tx with each account read once (accountMemo).
func (c *readCache) wrap(tx Tx) Tx {
	gen, err := tx.GetMeta(CacheGenerationKey)
	if err != nil || gen == "" {
		return memoAccounts(tx)
	}
	c.mu.Lock()
	if c.gen != gen {
		c.resetLocked(gen)
	}
	c.mu.Unlock()
	return &cachedTx{Tx: tx, c: c, gen: gen}
}

// cachedTx is one transaction's view through the cache. After a write of
// its own to a cached table it reads the store only (gen "").
type cachedTx struct {
	Tx
	c   *readCache
	gen string
}

// lookup returns m[k] when the cache still holds t's generation.
func lookup[K comparable, V any](t *cachedTx, m func(*readCache) map[K]V, k K) (V, bool) {
	var zero V
	if t.gen == "" {
		return zero, false
	}
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.c.gen != t.gen {
		return zero, false
	}
	v, ok := m(t.c)[k]
	if ok {
		t.c.hits++
	}
	return v, ok
}

// remember stores v under k when the cache still holds t's generation.
func remember[K comparable, V any](t *cachedTx, m func(*readCache) map[K]V, k K, v V) {
	if t.gen == "" {
		return
	}
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.c.gen != t.gen {
		return
	}
	mm := m(t.c)
	if len(mm) >= maxCachedRows {
		clear(mm)
	}
	mm[k] = v
}

// read is the cached form of a store read returning one row: a hit returns
// a copy (dup), a miss reads through get and remembers a copy.
func read[K comparable, V any](t *cachedTx, m func(*readCache) map[K]V, k K, dup func(V) V, get func(K) (*V, error)) (*V, error) {
	if v, ok := lookup(t, m, k); ok {
		v = dup(v)
		return &v, nil
	}
	v, err := get(k)
	if err != nil {
		return nil, err
	}
	remember(t, m, k, dup(*v))
	return v, nil
}

func same[V any](v V) V { return v }

func (t *cachedTx) GetAccount(id string) (*Account, error) {
	return read(t, func(c *readCache) map[string]Account { return c.accounts }, id, same, t.Tx.GetAccount)
}

func (t *cachedTx) GetAPIKey(id string) (*APIKey, error) {
	return read(t, func(c *readCache) map[string]APIKey { return c.keys }, id, func(k APIKey) APIKey {
		k.AllowedIPs = slices.Clone(k.AllowedIPs)
		return k
	}, t.Tx.GetAPIKey)
}

func (t *cachedTx) GetKeyValueByPublicID(publicID string) (*KeyValue, error) {
	return read(t, func(c *readCache) map[string]KeyValue { return c.values }, publicID, func(v KeyValue) KeyValue {
		v.SecretHash = slices.Clone(v.SecretHash)
		return v
	}, func(publicID string) (*KeyValue, error) {
		v, err := t.Tx.GetKeyValueByPublicID(publicID)
		if err == nil { // read from the store: RecordKeyUse finds it by its id
			remember(t, func(c *readCache) map[string]string { return c.valueIDs }, v.ID, publicID)
		}
		return v, err
	})
}

func (t *cachedTx) GetEndpoint(id string) (*Endpoint, error) {
	return read(t, func(c *readCache) map[string]Endpoint { return c.endpoints }, id, func(e Endpoint) Endpoint {
		e.PublicKey = slices.Clone(e.PublicKey)
		e.DeviceCodeHash = slices.Clone(e.DeviceCodeHash)
		return e
	}, t.Tx.GetEndpoint)
}

// readAll is read for a store read returning rows.
func readAll[K comparable, V any](t *cachedTx, m func(*readCache) map[K][]V, k K, get func(K) ([]V, error)) ([]V, error) {
	if vs, ok := lookup(t, m, k); ok {
		return slices.Clone(vs), nil
	}
	vs, err := get(k)
	if err != nil {
		return nil, err
	}
	remember(t, m, k, slices.Clone(vs))
	return vs, nil
}

func (t *cachedTx) FindUsers(f UserFilter) ([]User, error) {
	return readAll(t, func(c *readCache) map[UserFilter][]User { return c.users }, f, t.Tx.FindUsers)
}

func (t *cachedTx) ListGrants(userID string) ([]Grant, error) {
	return readAll(t, func(c *readCache) map[string][]Grant { return c.grants }, userID, t.Tx.ListGrants)
}

// RecordKeyUse keeps the cached value's last use current, so that the next
// login does not write it again within the minute (usage.go); consuming a
// use changes the generation, so t reads the store from then on.
func (t *cachedTx) RecordKeyUse(valueID string, at time.Time, from string, consume bool) error {
	if err := t.Tx.RecordKeyUse(valueID, at, from, consume); err != nil {
		return err
	}
	if consume {
		t.gen = ""
		return nil
	}
	t.update(func(c *readCache) {
		if v, ok := c.values[c.valueIDs[valueID]]; ok && v.ID == valueID {
			v.LastUsedAt, v.LastUsedFrom = at, from
			c.values[c.valueIDs[valueID]] = v
		}
	})
	return nil
}

// TouchEndpoint keeps the cached endpoint's last sighting current.
func (t *cachedTx) TouchEndpoint(id string, at time.Time, from string) error {
	if err := t.Tx.TouchEndpoint(id, at, from); err != nil {
		return err
	}
	t.update(func(c *readCache) {
		if e, ok := c.endpoints[id]; ok {
			e.LastSeenAt, e.LastSeenFrom = at, from
			c.endpoints[id] = e
		}
	})
	return nil
}

// CreateUser changes the generation: t reads the store from then on.
func (t *cachedTx) CreateUser(u *User) error {
	t.gen = ""
	return t.Tx.CreateUser(u)
}

func (t *cachedTx) update(f func(*readCache)) {
	if t.gen == "" {
		return
	}
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.c.gen == t.gen {
		f(t.c)
	}
}
