package app

import (
	"github.com/ganlink/ganlink/adapters/dlt645"
	"github.com/ganlink/ganlink/adapters/modbus"
	"github.com/ganlink/ganlink/adapters/mqtt"
	"github.com/ganlink/ganlink/adapters/opcua"
	"github.com/ganlink/ganlink/gateway/config"
)

// Kinds returns the source kinds the gateway runs, in the order Build builds their
// sources: each adapter's configuration sections, defaults and checks.
func Kinds() config.Kinds { return config.Kinds{opcua.Kind, modbus.Kind, mqtt.Kind, dlt645.Kind} }

// LoadConfig reads and checks a configuration file with the gateway's kinds: it
// succeeds exactly when Build accepts the configuration's sources.
func LoadConfig(path string) (*config.Config, error) { return config.LoadFile(path, Kinds()) }
