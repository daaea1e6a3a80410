package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/edgetrust/edgetrust/agent/brokerclient"
)

// The bare quic-go reference: a trivial echo server with the broker's TLS
// and QUIC settings, run as a child process (like the broker) so that its
// memory is read the same way and it competes for the same cores.

// roleEnv makes the bench binary (or its test binary) run the echo server.
const (
	roleEnv  = "EDGETRUST_BENCH_ROLE"
	roleEcho = "bare-echo-server"
	echoALPN = "edgetrust-bench-echo"
	// echoProfileEnv names a file for CPU profiles of the echo servers
	// (FILE.PID).
	echoProfileEnv = "EDGETRUST_BENCH_ECHO_CPUPROFILE"
)

// serverQUICConfig holds the knobs of the broker's agentapi.QUICConfig (a
// test keeps them equal).
func serverQUICConfig() *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout:  10 * time.Second,
		MaxIdleTimeout:        60 * time.Second,
		MaxIncomingStreams:    32,
		MaxIncomingUniStreams: -1,
		// The broker's windows (docs/transport.md): 68 KiB a stream,
		// 272 KiB a connection.
		InitialStreamReceiveWindow:     68 << 10,
		MaxStreamReceiveWindow:         68 << 10,
		InitialConnectionReceiveWindow: 272 << 10,
		MaxConnectionReceiveWindow:     272 << 10,
	}
}

// clientQUICConfig holds the knobs brokerclient.Dial uses with its defaults.
func clientQUICConfig() *quic.Config { return clientQUICConfigWith(keepAlive{}) }

// keepAlive is a QUIC keep-alive period and idle timeout for brokerclient
// (zero fields: its defaults).
type keepAlive struct{ period, idle time.Duration }

// fleetKeepAlive is the keep-alive --scale-keep-alive d asks for: d, with an
// idle timeout of 2d (quic-go sends keep-alives every min(period, idle/2)).
func fleetKeepAlive(d time.Duration) keepAlive {
	if d <= 0 {
		return keepAlive{}
	}
	return keepAlive{period: d, idle: 2 * d}
}

// clientQUICConfigWith is clientQUICConfig with ka's keep-alive, as
// brokerclient.Dial sets it from Config.KeepAlive and Config.IdleTimeout.
func clientQUICConfigWith(ka keepAlive) *quic.Config {
	period, idle := brokerclient.DefaultKeepAlive, brokerclient.DefaultIdleTimeout
	if ka.period > 0 {
		period, idle = ka.period, ka.idle
	}
	return &quic.Config{
		HandshakeIdleTimeout:  min(idle, 5*time.Second),
		MaxIdleTimeout:        idle,
		KeepAlivePeriod:       period,
		MaxIncomingStreams:    -1,
		MaxIncomingUniStreams: -1,
	}
}

// selfSignedCert makes a certificate like the broker's: ECDSA P-256,
// self-signed, naming 127.0.0.1.
func selfSignedCert() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "edgetrust bench echo"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, der, nil
}

// echoServerMain runs the echo server until stdin ends (the parent closed
// it or died). It prints "cert BASE64-DER" and "listening ADDR".
func echoServerMain(stdin io.Reader, stdout io.Writer) error {
	cert, der, err := selfSignedCert()
	if err != nil {
		return err
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	var reset quic.StatelessResetKey
	rand.Read(reset[:])
	tr := &quic.Transport{Conn: udp, StatelessResetKey: &reset}
	defer tr.Close()
	ln, err := tr.Listen(&tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{echoALPN}, MinVersion: tls.VersionTLS13}, serverQUICConfig())
	if err != nil {
		return err
	}
	if path := os.Getenv(echoProfileEnv); path != "" {
		f, err := os.Create(fmt.Sprintf("%s.%d", path, os.Getpid()))
		if err != nil {
			return err
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	fmt.Fprintf(stdout, "cert %s\nlistening %s\n", base64.StdEncoding.EncodeToString(der), udp.LocalAddr())
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// "memstats" asks for the runtime's view of memory; EOF stops.
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			if sc.Text() == "memstats" {
				runtime.GC()
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				fmt.Fprintf(stdout, "memstats %d %d %d\n", m.HeapInuse, m.StackInuse, runtime.NumGoroutine())
			}
		}
		cancel()
	}()
	for {
		conn, err := ln.Accept(ctx)
		if err != nil {
			return nil // stdin ended: a normal stop
		}
		go func() {
			for {
				s, err := conn.AcceptStream(ctx)
				if err != nil {
					return
				}
				go echo(s)
			}
		}()
	}
}

// echo writes back what it reads, through a small buffer.
func echo(s *quic.Stream) {
	defer s.Close()
	buf := make([]byte, 512)
	for {
		n, err := s.Read(buf)
		if n > 0 {
			if _, werr := s.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// echoProc is a running echo server child.
type echoProc struct {
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	addr     *net.UDPAddr
	tls      *tls.Config // client side: trusts the child's certificate
	memstats chan string
	done     chan struct{}
}

func startEcho(ctx context.Context) (*echoProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), roleEnv+"="+roleEcho)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting bare echo server: %w", err)
	}
	e := &echoProc{cmd: cmd, stdin: stdin, memstats: make(chan string, 1), done: make(chan struct{})}
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 64<<10)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		cmd.Wait()
		close(e.done)
	}()
	var der []byte
	timeout := time.After(30 * time.Second)
	for e.addr == nil {
		select {
		case l, ok := <-lines:
			if !ok {
				return nil, errors.New("bare echo server exited before listening")
			}
			if v, ok := strings.CutPrefix(l, "cert "); ok {
				der, _ = base64.StdEncoding.DecodeString(v)
			}
			if v, ok := strings.CutPrefix(l, "listening "); ok {
				if e.addr, err = net.ResolveUDPAddr("udp", v); err != nil {
					e.stop()
					return nil, err
				}
			}
		case <-timeout:
			e.stop()
			return nil, errors.New("bare echo server did not start within 30s")
		case <-ctx.Done():
			e.stop()
			return nil, ctx.Err()
		}
	}
	go func() {
		for l := range lines {
			if v, ok := strings.CutPrefix(l, "memstats "); ok {
				e.memstats <- v
			}
		}
	}()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		e.stop()
		return nil, fmt.Errorf("bare echo server certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	e.tls = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{echoALPN}, MinVersion: tls.VersionTLS13}
	return e, nil
}

func (e *echoProc) pid() int { return e.cmd.Process.Pid }

// runtimeMemory returns the child's heap and stack bytes in use (after a
// GC) and its goroutines.
func (e *echoProc) runtimeMemory() (heap, stack, goroutines int64, err error) {
	if _, err := io.WriteString(e.stdin, "memstats\n"); err != nil {
		return 0, 0, 0, err
	}
	select {
	case v := <-e.memstats:
		_, err = fmt.Sscan(v, &heap, &stack, &goroutines)
		return heap, stack, goroutines, err
	case <-time.After(30 * time.Second):
		return 0, 0, 0, errors.New("bare echo server sent no memstats")
	}
}

// stop closes the child's stdin (it exits) and waits, killing it after 10s.
func (e *echoProc) stop() {
	e.stdin.Close()
	select {
	case <-e.done:
	case <-time.After(10 * time.Second):
		e.cmd.Process.Kill()
		<-e.done
	}
}

// bareConn is one client connection to the echo server with its open stream.
type bareConn struct {
	qc *quic.Conn
	s  *quic.Stream
}

// dialBare makes a full handshake, opens a stream and makes one round trip
// on it, so the server has accepted both, as an agent's control stream.
func dialBare(ctx context.Context, tr *quic.Transport, e *echoProc) (*bareConn, error) {
	return dialBareWith(ctx, tr, e, keepAlive{})
}

// dialBareWith is dialBare with ka's keep-alive.
func dialBareWith(ctx context.Context, tr *quic.Transport, e *echoProc, ka keepAlive) (*bareConn, error) {
	qc, err := tr.Dial(ctx, e.addr, e.tls, clientQUICConfigWith(ka))
	if err != nil {
		return nil, err
	}
	s, err := qc.OpenStreamSync(ctx)
	if err != nil {
		qc.CloseWithError(0, "")
		return nil, err
	}
	b := &bareConn{qc: qc, s: s}
	if err := b.roundTrip(ctx, []byte{1}); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

// roundTrip writes msg and reads it back.
func (b *bareConn) roundTrip(ctx context.Context, msg []byte) error {
	if dl, ok := ctx.Deadline(); ok {
		b.s.SetDeadline(dl)
	}
	if _, err := b.s.Write(msg); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	_, err := io.ReadFull(b.s, buf)
	return err
}

func (b *bareConn) close() { b.qc.CloseWithError(0, "") }
