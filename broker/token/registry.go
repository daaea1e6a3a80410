package token

import "github.com/edgetrust/edgetrust/broker/registry"

// RegistrySigner adapts an Issuer to registry.Signer. The two claim types
// have the same fields, so each call converts one into the other.
type RegistrySigner struct{ *Issuer }

var _ registry.Signer = RegistrySigner{}

// Mint implements registry.Signer.
func (s RegistrySigner) Mint(c registry.Claims) (string, error) { return s.Issuer.Mint(Claims(c)) }

// Verify implements registry.Signer.
func (s RegistrySigner) Verify(tok string) (*registry.Claims, error) {
	c, err := s.Issuer.Verify(tok)
	if err != nil {
		return nil, err
	}
	rc := registry.Claims(*c)
	return &rc, nil
}
