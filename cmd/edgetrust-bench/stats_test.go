package main

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // reversed: percentile sorts
	}
	cases := []struct {
		name string
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value", ms(7), 99, 7 * time.Millisecond},
		{"median of odd count", ms(3, 1, 2), 50, 2 * time.Millisecond},
		{"median of even count is the lower middle", ms(4, 1, 3, 2), 50, 2 * time.Millisecond},
		{"p99 of 100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p50 of 100", ms(hundred...), 50, 50 * time.Millisecond},
		{"p100 is the maximum", ms(hundred...), 100, 100 * time.Millisecond},
		{"tiny p is the minimum", ms(5, 9, 1), 0.001, 1 * time.Millisecond},
		{"p99 of 10 is the maximum", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if diff := cmp.Diff(c.want, percentile(c.in, c.p)); diff != "" {
				t.Errorf("percentile(%v) (-want +got):\n%s", c.p, diff)
			}
		})
	}
}

func TestSummarizeAndRates(t *testing.T) {
	l := summarize([]time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond})
	if diff := cmp.Diff(latency{n: 3, p50: 2 * time.Millisecond, p99: 3 * time.Millisecond, max: 3 * time.Millisecond}, l, cmp.AllowUnexported(latency{})); diff != "" {
		t.Errorf("summarize (-want +got):\n%s", diff)
	}
	cases := []struct {
		name      string
		got, want float64
	}{
		{"perSec", perSec(500, 2*time.Second), 250},
		{"perSec of no time", perSec(5, 0), 0},
		{"ms rounds to microseconds", ms(1234567 * time.Nanosecond), 1.235},
		{"ratio", ratio(2, 3), 0.667},
		{"ratio to zero", ratio(1, 0), 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if diff := cmp.Diff(c.want, c.got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// requiredResults are the result fields the contract names.
var requiredResults = []string{
	"handshakes_per_s", "registrations_per_s", "registration_ratio", "logins_per_s", "login_crypto_ratio",
	"approve_p50_ms", "approve_p99_ms", "bulk_approve_ms", "untrust_p99_ms", "mem_per_agent_kib", "mem_ratio",
}

// checkShape decodes a report as a script would and checks that the
// contract's fields are there and are numbers.
func checkShape(t *testing.T, data []byte) map[string]float64 {
	t.Helper()
	var doc struct {
		Machine map[string]any `json:"machine"`
		Results map[string]any `json:"results"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, data)
	}
	if _, ok := doc.Machine["cpus"].(float64); !ok {
		t.Errorf("machine.cpus = %#v, want a number", doc.Machine["cpus"])
	}
	for _, k := range []string{"go", "os"} {
		if s, ok := doc.Machine[k].(string); !ok || s == "" {
			t.Errorf("machine.%s = %#v, want a non-empty string", k, doc.Machine[k])
		}
	}
	got := map[string]float64{}
	for _, k := range requiredResults {
		v, ok := doc.Results[k].(float64)
		if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
			t.Errorf("results.%s = %#v, want a number", k, doc.Results[k])
		}
		got[k] = v
	}
	return got
}

func TestReportJSONShape(t *testing.T) {
	rep := &Report{Version: 1, Machine: machineInfo(), Results: Results{
		HandshakesPerS: 1000, RegistrationsPerS: 850, RegistrationRatio: 0.85, LoginsPerS: 600, LoginCryptoRatio: 0.05,
		ApproveP50Ms: 2, ApproveP99Ms: 30, BulkApproveMs: 1500, UntrustP99Ms: 4, MemPerAgentKiB: 60, MemRatio: 1.2,
	}}
	rep.Targets = evaluate(rep.Results)
	data, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	got := checkShape(t, data)
	if diff := cmp.Diff(0.85, got["registration_ratio"]); diff != "" {
		t.Errorf("registration_ratio (-want +got):\n%s", diff)
	}
}

func TestEvaluate(t *testing.T) {
	r := Results{RegistrationRatio: 0.8, LoginCryptoRatio: 0.59, ApproveP99Ms: 25.001, BulkApproveMs: 2000, UntrustP99Ms: 10, MemRatio: 1.3}
	got := map[string]bool{}
	for _, tg := range evaluate(r) {
		got[tg.Name] = tg.Met
	}
	want := map[string]bool{
		"registration_ratio":     true, // the limit itself is met
		"login_crypto_ratio":     false,
		"login_cpu_ratio":        false,
		"registration_cpu_ratio": false,
		"approve_p99_ms":         false,
		"bulk_approve_ms":        true,
		"untrust_p99_ms":         true,
		"mem_ratio":              false,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("targets met (-want +got):\n%s", diff)
	}
}
