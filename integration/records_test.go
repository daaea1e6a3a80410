package integration

import (
	"strings"
	"testing"
	"time"
)

// TestUntrustedAgentLoginIsAudited: after an untrust, "edgetrust-agent
// login" still reaches the broker, which refuses it and writes it into the
// endpoint's history, beside its registration and the decisions; the list
// keeps who approved it apart from the untrust (issue 12, points 1, 2, 4).
func TestUntrustedAgentLoginIsAudited(t *testing.T) {
	b := startBroker(t, t.TempDir(), "127.0.0.1:0")
	adm := newAdmin(t, b)
	k := adm.createKey()
	ag := startAgent(t, b, k.Value)
	st := ag.waitState(t, "pending", settle)
	adm.run("endpoints", "approve", st.EndpointID)
	ag.waitState(t, "trusted", settle)
	adm.run("endpoints", "untrust", st.EndpointID)
	ag.waitState(t, "untrusted", settle)
	if _, msg, err := ag.login(nil); err == nil || !strings.Contains(msg, "not_trusted") {
		t.Fatalf("login while untrusted: %v %q, want not_trusted", err, msg)
	}

	var events []auditEvent
	adm.jsonOut(&events, "audit", "--endpoint", st.EndpointID)
	var got []string
	for _, e := range events {
		got = append(got, e.Action+" "+e.Outcome)
		if strings.HasPrefix(e.Action, "login.") && e.Actor != "endpoint:"+st.EndpointID {
			t.Errorf("refused login's actor %q, want endpoint:%s", e.Actor, st.EndpointID)
		}
	}
	want := []string{"login.session_user failure", "endpoint.untrust success", "endpoint.approve success", "endpoint.register success"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("audit --endpoint, newest first:\n got %v\nwant %v", got, want)
	}

	var eps []struct {
		ID           string     `json:"id"`
		ApprovedBy   string     `json:"approved_by"`
		ApprovedAt   *time.Time `json:"approved_at"`
		LastDecision string     `json:"last_decision"`
	}
	adm.jsonOut(&eps, "endpoints", "list", "--limit", "1")
	if len(eps) != 1 || eps[0].ID != st.EndpointID || eps[0].ApprovedAt == nil || !strings.HasPrefix(eps[0].ApprovedBy, "user:") || eps[0].LastDecision != "untrust" {
		t.Errorf("endpoints list after untrust: %+v", eps)
	}
}

// TestMalformedKeyNeverReachesTheBroker: an agent given a key that fails
// its checksum says so in its status and sends nothing, so the broker's
// audit holds no refusal of it (issue 12, point 5).
func TestMalformedKeyNeverReachesTheBroker(t *testing.T) {
	b := startBroker(t, t.TempDir(), "127.0.0.1:0")
	adm := newAdmin(t, b)
	ag := startAgent(t, b, "etk_bogus")
	waitFor(t, settle, "the agent to report the malformed key", func() bool {
		st := ag.status(t)
		return st.State == "unregistered" && strings.Contains(st.LastError, "malformed")
	})
	var events []auditEvent
	adm.jsonOut(&events, "audit", "--action", "endpoint.register")
	if len(events) != 0 {
		t.Errorf("the broker audited %d registrations of a key never sent: %+v", len(events), events)
	}
}
