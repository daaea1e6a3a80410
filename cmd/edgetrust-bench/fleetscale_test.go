package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestFleetScaleTiny runs --fleet-scale end to end at a size that takes
// seconds: the idle fleets on a bare server and a broker over several
// client sockets, and a broker restarted under agents that reconnect
// through reconnect.Loop. It checks that every phase measured something
// and every agent came back, never how fast.
func TestFleetScaleTiny(t *testing.T) {
	stdout, _, data := runTiny(t, "--fleet-scale", "--scale-agents", "60", "--storm-agents", "30", "--per-socket", "20")
	var doc struct {
		Results map[string]any `json:"results"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	num := func(k string) float64 {
		v, _ := doc.Results[k].(float64)
		return v
	}
	for _, k := range []string{"scale_bare_mem_per_conn_kib", "scale_broker_rss_peak_mib", "scale_bare_rss_peak_mib", "storm_trusted_100_s", "storm_login_100_s"} {
		if num(k) <= 0 {
			t.Errorf("results.%s = %v, want > 0", k, doc.Results[k])
		}
	}
	if num("scale_broker_agents") != 60 || num("scale_sockets") != 3 {
		t.Errorf("scale_broker_agents %v over scale_sockets %v, want 60 over 3", num("scale_broker_agents"), num("scale_sockets"))
	}
	// The idle fleet's keep-alive, --scale-keep-alive's default, is in
	// the report.
	if num("scale_keep_alive_s") != 25 {
		t.Errorf("scale_keep_alive_s = %v, want the default 25", doc.Results["scale_keep_alive_s"])
	}
	if num("storm_back") != 30 {
		t.Errorf("storm_back = %v, want all 30 agents back", num("storm_back"))
	}
	if s, ok := doc.Results["storm_broker_cpu_per_s"].([]any); !ok || len(s) == 0 {
		t.Errorf("storm_broker_cpu_per_s = %#v, want a series", doc.Results["storm_broker_cpu_per_s"])
	}
	if _, ok := doc.Results["registrations_per_s"]; ok && num("registrations_per_s") != 0 {
		t.Errorf("--fleet-scale ran the registration storm too")
	}
	if !strings.Contains(stdout, "reconnect storm: broker restarted under 30 agents") {
		t.Errorf("table lacks the storm:\n%s", stdout)
	}
}
