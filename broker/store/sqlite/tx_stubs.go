package sqlite

import (
	"errors"

	"github.com/edgetrust/edgetrust/broker/registry"
)

// Temporary: replaced by the real implementations.
var errTODO = errors.New("sqlite: not implemented yet")

func (t *tx) DeleteUser(id string) error                                    { return errTODO }
func (t *tx) UpdateRole(r *registry.Role) error                             { return errTODO }
func (t *tx) DeleteRole(id string) error                                    { return errTODO }
func (t *tx) DeleteGrant(userID, roleID, accountID string) error            { return errTODO }
func (t *tx) ListAPIKeysRunningAs(userID string) ([]registry.APIKey, error) { return nil, errTODO }
func (t *tx) DeleteAPIKey(id string) error                                  { return errTODO }
func (t *tx) CountAPIKeys(accountID string) (int, error)                    { return 0, errTODO }
func (t *tx) GetKeyValue(id string) (*registry.KeyValue, error)             { return nil, errTODO }
func (t *tx) UpdateKeyValue(v *registry.KeyValue) error                     { return errTODO }
func (t *tx) CountEndpoints(accountID string) (int, error)                  { return 0, errTODO }
