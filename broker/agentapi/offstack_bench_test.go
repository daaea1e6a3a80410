package agentapi

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"github.com/google/uuid"

	"github.com/edgetrust/edgetrust/broker/brokertest"
	"github.com/edgetrust/edgetrust/broker/registry"
)

func benchRegister(b *testing.B, wrap func(func() error) error) {
	ctx := context.Background()
	re := brokertest.New(b, brokertest.Options{})
	key, err := re.Registry.CreateAPIKey(ctx, re.Admin(b), registry.CreateAPIKeyRequest{Name: "auto", AutoTrust: true})
	if err != nil {
		b.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	req := registry.RegisterRequest{APIKey: key.Value, ClientID: uuid.NewString(), ClientType: "printer", Hostname: "h",
		KeyType: registry.KeyTypeEd25519, PublicKey: pub, Proven: true}
	b.ReportAllocs()
	for b.Loop() {
		if err := wrap(func() error { _, err := re.Registry.Register(ctx, req); return err }); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRegisterInline(b *testing.B) {
	benchRegister(b, func(f func() error) error { return f() })
}

func BenchmarkRegisterOffStack(b *testing.B) {
	w := newWorkers()
	benchRegister(b, func(f func() error) error { return offStack(w, f) })
}
