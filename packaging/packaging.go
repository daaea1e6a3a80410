// Package packaging holds what the edgetrust packages install besides the
// binaries: the hardened systemd units, the package scripts and the nfpm
// configurations that 'make package' builds the .deb and .rpm from.
//
// The units are embedded so that 'edgetrust-agent install' writes exactly the
// bytes the packages ship: there is one service definition, not two copies
// that drift apart.
package packaging

import _ "embed"

// AgentUnit is systemd/edgetrust-agent.service: the agent's unit, shipped by
// the package and written by 'edgetrust-agent install' on systemd hosts. It
// contains no template actions, so kardianos/service renders it unchanged.
//
//go:embed systemd/edgetrust-agent.service
var AgentUnit string

// BrokerUnit is systemd/edgetrust-broker.service, shipped by the broker
// package.
//
//go:embed systemd/edgetrust-broker.service
var BrokerUnit string

// Paths the packages install to and the units name.
const (
	AgentBinary    = "/usr/bin/edgetrust-agent"
	AgentConfigDir = "/etc/edgetrust-agent"
	AgentConfig    = AgentConfigDir + "/agent.conf"
	AgentStateDir  = "/var/lib/edgetrust-agent"
	AgentSocket    = "/run/edgetrust-agent/agent.sock"
	AgentUser      = "edgetrust-agent"
	BrokerBinary   = "/usr/bin/edgetrust-broker"
	BrokerStateDir = "/var/lib/edgetrust-broker"
	BrokerUser     = "edgetrust-broker"
)
