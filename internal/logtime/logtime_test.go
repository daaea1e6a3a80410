package logtime

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
)

// A log line's timestamp is RFC 3339 in UTC, whatever the time's zone.
func TestEncode(t *testing.T) {
	east := time.FixedZone("UTC+2", 2*60*60)
	for _, tc := range []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 5, 1, 14, 0, 0, 123456789, east), "2026-05-01T12:00:00.123Z"},
		{time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC), "2026-05-01T12:00:00.000Z"},
		{time.Date(2026, 1, 1, 0, 30, 0, 0, time.FixedZone("UTC-1", -60*60)), "2026-01-01T01:30:00.000Z"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			var buf bytes.Buffer
			core := zapcore.NewCore(zapcore.NewJSONEncoder(EncoderConfig()), zapcore.AddSync(&buf), zapcore.InfoLevel)
			ce := core.With(nil).Check(zapcore.Entry{Level: zapcore.InfoLevel, Time: tc.in, Message: "m"}, nil)
			ce.Write()
			var line map[string]any
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatalf("%q: %v", buf.String(), err)
			}
			if line[Key] != tc.want {
				t.Fatalf("%s = %v, want %q (line %s)", Key, line[Key], tc.want, buf.String())
			}
			got, err := time.Parse(time.RFC3339, tc.want)
			if err != nil || !got.Equal(tc.in.Truncate(time.Millisecond)) {
				t.Fatalf("%q does not parse back as RFC 3339 to %v: %v %v", tc.want, tc.in, got, err)
			}
		})
	}
}
