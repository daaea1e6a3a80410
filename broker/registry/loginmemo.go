package registry

// accountMemo is the Tx of one login or registration: each account is
// read from the store once per transaction. A login walks the same account chain up to three
// times (the key's target account, K5/K8; the endpoint's account being
// live; the user's account being live): reading it once took walkUp from
// 8% of a login's CPU samples (issue 17). It lives only as long as the
// transaction, and neither transaction writes an account, so it never serves a value the
// transaction itself would not read.
type accountMemo struct {
	Tx
	accounts map[string]Account
}

func memoAccounts(tx Tx) *accountMemo {
	return &accountMemo{Tx: tx, accounts: make(map[string]Account, 4)}
}

// GetAccount returns a copy, as the store does: a caller may change it.
func (m *accountMemo) GetAccount(id string) (*Account, error) {
	if a, ok := m.accounts[id]; ok {
		return &a, nil
	}
	a, err := m.Tx.GetAccount(id)
	if err != nil {
		return nil, err
	}
	m.accounts[id] = *a
	return a, nil
}
