package agent

import "github.com/edgetrust/edgetrust/agent/reconnect"

// backoff is the reconnect schedule (reconnect.Backoff), under the name
// this package's tests use.
type backoff = reconnect.Backoff
