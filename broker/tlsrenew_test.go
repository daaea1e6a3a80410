package broker

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"go.uber.org/zap"
)

// TestRenewalWhileServingKeepsAgentsConnected: a broker that serves past
// its certificate's renewal date re-issues it with the same key (the
// fingerprint agents pin stays) without dropping a connection made
// before; new connections get the new certificate.
func TestRenewalWhileServingKeepsAgentsConnected(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	names := certNames("", nil)
	// Issued 380 days ago: 17 days left, inside the 30-day renewal window.
	old, fp, err := loadOrCreateCert(dir, names, time.Now().Add(-380*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	live := newLiveCert(old, fp, func(context.Context) (tls.Certificate, string, error) {
		return loadOrCreateCert(dir, names, time.Now())
	}, false, zap.NewNop())

	ln, err := quic.ListenAddr("127.0.0.1:0", &tls.Config{GetCertificate: live.get, NextProtos: []string{"echo"}, MinVersion: tls.VersionTLS13}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // echo every stream of every connection
		for {
			conn, err := ln.Accept(ctx)
			if err != nil {
				return
			}
			go func() {
				for {
					str, err := conn.AcceptStream(ctx)
					if err != nil {
						return
					}
					go func() { io.Copy(str, str); str.Close() }()
				}
			}()
		}
	}()
	type seen struct {
		fingerprint string
		serial      string
	}
	dial := func() (*quic.Conn, *seen) {
		var s seen
		conn, err := quic.DialAddr(ctx, ln.Addr().String(), &tls.Config{NextProtos: []string{"echo"}, InsecureSkipVerify: true,
			VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
				c, err := x509.ParseCertificate(raw[0])
				if err != nil {
					return err
				}
				sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
				s = seen{hex.EncodeToString(sum[:]), c.SerialNumber.String()}
				return nil
			}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return conn, &s
	}
	echo := func(conn *quic.Conn, msg string) error {
		str, err := conn.OpenStreamSync(ctx)
		if err != nil {
			return err
		}
		if _, err := str.Write([]byte(msg)); err != nil {
			return err
		}
		str.Close()
		got, err := io.ReadAll(str)
		if err != nil {
			return err
		}
		if string(got) != msg {
			return errors.New("echo mismatch: " + string(got))
		}
		return nil
	}

	agent, before := dial()
	defer agent.CloseWithError(0, "")
	if err := echo(agent, "before"); err != nil {
		t.Fatal(err)
	}
	renewed, err := live.check(ctx)
	if err != nil || !renewed {
		t.Fatalf("renewal of a certificate due: renewed %v, %v", renewed, err)
	}
	if again, err := live.check(ctx); err != nil || again {
		t.Fatalf("a second check renewed again: %v, %v", again, err)
	}
	if err := echo(agent, "after"); err != nil {
		t.Fatalf("the connection made before the renewal: %v", err)
	}
	next, after := dial()
	defer next.CloseWithError(0, "")
	if err := echo(next, "new"); err != nil {
		t.Fatal(err)
	}
	if after.fingerprint != before.fingerprint || after.fingerprint != fp {
		t.Errorf("fingerprint before %s, after %s: want both sha256:%s", before.fingerprint, after.fingerprint, fp)
	}
	if after.serial == before.serial {
		t.Errorf("new connections still get the old certificate (serial %s)", before.serial)
	}
}

// TestRenewalRefusesAnotherKey: a renewal that would change the pinned
// fingerprint is refused and the current certificate kept.
func TestRenewalRefusesAnotherKey(t *testing.T) {
	names := certNames("", nil)
	cur, fp, err := loadOrCreateCert(t.TempDir(), names, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	live := newLiveCert(cur, fp, func(context.Context) (tls.Certificate, string, error) {
		return loadOrCreateCert(t.TempDir(), names, time.Now()) // another directory: another key
	}, false, zap.NewNop())
	if changed, err := live.check(context.Background()); err == nil || changed {
		t.Fatalf("a renewal with another key: changed %v, %v; want refused", changed, err)
	}
	if got, _ := live.get(nil); string(got.Certificate[0]) != string(cur.Certificate[0]) {
		t.Error("the current certificate was replaced")
	}
}
