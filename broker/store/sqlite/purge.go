package sqlite

import (
	"fmt"
	"time"
)

// PurgeRefreshTokens counts a token without an expiry as expired, as
// ConsumeRefreshToken does.
func (t *tx) PurgeRefreshTokens(before time.Time) (int, error) {
	res, err := t.exec(`DELETE FROM refresh_tokens WHERE expires_at IS NULL OR expires_at < ?`, nanos(before))
	if err != nil {
		return 0, fmt.Errorf("purging refresh tokens: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("purging refresh tokens: %w", err)
	}
	return int(n), nil
}
