// Package logtime is the one timestamp format of edgetrust's logs, the
// broker's and the agent's alike: RFC 3339 in UTC with milliseconds
// ("2026-05-01T12:00:00.123Z") under the key "ts", so that lines of both
// logs sort and compare as text whatever the hosts' time zones.
package logtime

import (
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Key is the timestamp's field name.
const Key = "ts"

// Layout is the timestamp's format: RFC 3339 with milliseconds, always
// in UTC ("Z").
const Layout = "2006-01-02T15:04:05.000Z07:00"

// Encode is a zapcore.TimeEncoder writing t in Layout, in UTC.
func Encode(t time.Time, enc zapcore.PrimitiveArrayEncoder) {
	enc.AppendString(t.UTC().Format(Layout))
}

// EncoderConfig is zap's production encoder configuration with this
// package's timestamp.
func EncoderConfig() zapcore.EncoderConfig {
	ec := zap.NewProductionEncoderConfig()
	ec.TimeKey = Key
	ec.EncodeTime = Encode
	return ec
}
