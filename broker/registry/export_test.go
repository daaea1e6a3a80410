package registry

// CacheHitsForTest counts the rows logins of r have read from memory
// (readcache.go).
func CacheHitsForTest(r *Registry) int64 {
	r.cache.mu.Lock()
	defer r.cache.mu.Unlock()
	return r.cache.hits
}
