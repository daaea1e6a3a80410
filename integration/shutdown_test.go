package integration

import (
	"net"
	"syscall"
	"testing"
	"time"
)

// Issue 11, point 4: on SIGTERM the broker closes its agents' connections,
// exits 0, and releases both ports, so that a new broker can start on the
// same port at once. The time it took is logged; it is measured, not
// asserted (the bound below only catches a broker that hangs).
func TestSIGTERMClosesAgentsAndReleasesPorts(t *testing.T) {
	b := startBroker(t, t.TempDir(), "127.0.0.1:0")
	k := newAdmin(t, b).createKey("--auto-trust")
	agents := []*agentProc{startAgent(t, b, k.Value), startAgent(t, b, k.Value)}
	for _, a := range agents {
		a.waitState(t, "trusted", 60*time.Second)
	}

	start := time.Now()
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the broker did not exit within 30s of SIGTERM; stderr:\n%s", tail(b.stderr.String(), 30))
	}
	t.Logf("broker exited %v after SIGTERM with %d agents connected", time.Since(start).Round(time.Millisecond), len(agents))
	if code := b.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0; stderr:\n%s", code, tail(b.stderr.String(), 30))
	}
	// Both ports are free again.
	tcp, err := net.Listen("tcp", b.addr)
	if err != nil {
		t.Fatalf("TCP %s still held: %v", b.addr, err)
	}
	tcp.Close()
	udp, err := net.ListenPacket("udp", b.addr)
	if err != nil {
		t.Fatalf("UDP %s still held: %v", b.addr, err)
	}
	udp.Close()
	// The agents noticed: each reports the broker unreachable rather than
	// waiting for an idle timeout.
	for _, a := range agents {
		waitFor(t, 60*time.Second, "agent sees the broker gone", func() bool {
			return !a.status(t).UnreachableSince.IsZero()
		})
	}
}
