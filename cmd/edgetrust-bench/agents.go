package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/quic-go/quic-go"

	"github.com/edgetrust/edgetrust/agent/brokerclient"
	"github.com/edgetrust/edgetrust/protocol"
)

// fleet is a set of simulated agents sharing one UDP socket, spread over
// one or more brokers.
type fleet struct {
	brokers []*brokerProc
	tr      *quic.Transport
	udp     *net.UDPConn
	tls     *tls.Config
	curve   atomic.Value // string: the TLS key exchange of the first handshake
	// ka is the agents' keep-alive (zero: brokerclient's defaults).
	ka keepAlive

	mu        sync.Mutex
	connected []*simAgent // to close
	closed    bool
}

// newFleet returns a fleet whose n-th agent connects to brokers[n %
// len(brokers)]. Brokers sharing a database present one certificate: the
// first one's is trusted for all.
func newFleet(brokers ...*brokerProc) (*fleet, error) {
	conf, err := brokerclient.TLSConfig("127.0.0.1", brokers[0].caFile, "")
	if err != nil {
		return nil, err
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	f := &fleet{brokers: brokers, udp: udp, tr: &quic.Transport{Conn: udp}}
	// Record which key exchange TLS chose; the broker and brokerclient
	// leave the curve preferences at Go's defaults.
	conf.VerifyConnection = func(cs tls.ConnectionState) error {
		if f.curve.Load() == nil {
			f.curve.Store(cs.CurveID.String())
		}
		return nil
	}
	f.tls = conf
	return f, nil
}

func (f *fleet) keyExchange() string {
	if v, ok := f.curve.Load().(string); ok {
		return v
	}
	return ""
}

// pids returns the process ids of the fleet's brokers.
func (f *fleet) pids() []int {
	out := make([]int, len(f.brokers))
	for i, b := range f.brokers {
		out[i] = b.pid()
	}
	return out
}

// where says which brokers the fleet's agents connect to.
func (f *fleet) where() string {
	if len(f.brokers) == 1 {
		return "1 broker"
	}
	return fmt.Sprintf("spread over %d brokers", len(f.brokers))
}

// close closes every connection the fleet's agents made and then the
// socket; it may be called more than once.
func (f *fleet) close() {
	f.mu.Lock()
	agents, closed := f.connected, f.closed
	f.connected, f.closed = nil, true
	f.mu.Unlock()
	if closed {
		return
	}
	var wg sync.WaitGroup
	for _, a := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.conn.Close()
		}()
	}
	wg.Wait()
	f.tr.Close()
	f.udp.Close()
}

// simAgent is one simulated agent.
type simAgent struct {
	id     string
	key    ed25519.PrivateKey
	conn   *brokerclient.Conn
	state  string
	tokens *protocol.Tokens
}

// newAgents makes n identities (keys are made before any timing starts).
func newAgents(n int) []*simAgent {
	out := make([]*simAgent, n)
	for i := range out {
		_, key, _ := ed25519.GenerateKey(nil)
		out[i] = &simAgent{id: uuid.NewString(), key: key}
	}
	return out
}

// connect dials broker n of the fleet (modulo their number: full
// handshake, HELLO) and registers with apiKey, as an agent does on every
// connection.
func (f *fleet) connect(ctx context.Context, a *simAgent, apiKey string, n int) error {
	c, err := brokerclient.Dial(ctx, brokerclient.Config{
		Addr: f.brokers[n%len(f.brokers)].addr, TLS: f.tls, Key: a.key, ClientID: a.id, Transport: f.tr, Software: "edgetrust-bench",
		KeepAlive: f.ka.period, IdleTimeout: f.ka.idle,
	})
	if err != nil {
		return err
	}
	reg, err := c.Register(ctx, protocol.Register{
		APIKey: apiKey, ClientType: protocol.ClientDesktop, Hostname: fmt.Sprintf("bench-%05d", n), OS: "linux", Version: "bench",
	})
	if err != nil {
		c.Close()
		return err
	}
	a.conn, a.state, a.tokens = c, reg.State, reg.Tokens
	f.mu.Lock()
	f.connected = append(f.connected, a)
	f.mu.Unlock()
	return nil
}

// await waits for a pushed decision with state and returns it.
func (a *simAgent) await(ctx context.Context, state string) (*protocol.Decision, error) {
	for {
		select {
		case d, ok := <-a.conn.Decisions():
			if !ok {
				return nil, fmt.Errorf("connection ended: %w", a.conn.Err())
			}
			a.state = d.State
			if d.Tokens != nil {
				a.tokens = d.Tokens
			}
			if d.State == state {
				return d, nil
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %s: %w", state, ctx.Err())
		}
	}
}

// awaitTrusted waits until the agent holds a device token after approval.
func (a *simAgent) awaitTrusted(ctx context.Context) error {
	d, err := a.await(ctx, protocol.StateTrusted)
	if err != nil {
		return err
	}
	if d.Tokens == nil || d.Tokens.AccessToken == "" {
		return errors.New("approval pushed without a device token")
	}
	return nil
}

// within returns ctx bounded by d.
func within(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}
