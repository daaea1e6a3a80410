package sqlite_test

import (
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/edgetrust/edgetrust/broker/registry"
	"github.com/edgetrust/edgetrust/broker/store/sqlite"
)

// BenchmarkUpdateParallel runs Updates shaped like a login (a lookup, a
// refresh token, an audit row, a meta write) from GOMAXPROCS and from 16 ×
// GOMAXPROCS goroutines at once. With group commit, Updates that queue
// while a COMMIT (and its fsync) runs share the next one: see commits/op.
func BenchmarkUpdateParallel(b *testing.B) {
	for _, par := range []int{1, 16} {
		b.Run("goroutines="+strconv.Itoa(par*runtime.GOMAXPROCS(0)), func(b *testing.B) {
			s, err := sqlite.Open(b.Context(), sqlite.Config{Path: filepath.Join(b.TempDir(), "b.db"), Logger: zap.NewNop()})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			now := time.Now()
			if err := s.Update(b.Context(), func(tx registry.Tx) error {
				return tx.CreateAccount(&registry.Account{ID: "acct", CreatedAt: now, UpdatedAt: now})
			}); err != nil {
				b.Fatal(err)
			}
			var seq atomic.Int64
			before := sqlite.CommitsForTest(s)
			b.SetParallelism(par) // par × GOMAXPROCS goroutines
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := strconv.FormatInt(seq.Add(1), 10)
					err := s.Update(b.Context(), func(tx registry.Tx) error {
						if _, err := tx.GetAccount("acct"); err != nil {
							return err
						}
						if err := tx.CreateRefreshToken(&registry.RefreshToken{
							ID: "rt" + id, Hash: []byte("hash" + id), ChainID: "c" + id,
							SubjectType: registry.SubjectUser, SubjectID: "u" + id,
							IssuedAt: now, ExpiresAt: now.Add(time.Hour),
						}); err != nil {
							return err
						}
						if err := tx.AppendAudit(&registry.AuditEvent{Time: now, Actor: "bench", Action: "user.login", AccountID: "acct", Target: id, Outcome: "ok"}); err != nil {
							return err
						}
						return tx.SetMeta("last", id)
					})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(sqlite.CommitsForTest(s)-before)/float64(b.N), "commits/op")
		})
	}
}
