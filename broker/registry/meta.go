package registry

import (
	"encoding/json"
	"errors"
	"fmt"
)

// GetMetaJSON reads the meta setting key as JSON into v; found is false
// (and v untouched) when the setting does not exist. what names the
// setting in an error.
func GetMetaJSON(tx MetaTx, key, what string, v any) (found bool, err error) {
	raw, err := tx.GetMeta(key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	return true, nil
}

// SetMetaJSON writes v as JSON to the meta setting key.
func SetMetaJSON(tx MetaTx, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.SetMeta(key, string(data))
}
