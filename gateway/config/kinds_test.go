package config_test

import (
	"github.com/ganlink/ganlink/adapters/modbus"
	"github.com/ganlink/ganlink/adapters/mqtt"
	"github.com/ganlink/ganlink/adapters/opcua"
	"github.com/ganlink/ganlink/gateway/config"
)

// kinds are the gateway's source kinds (gateway/app.Kinds, which this package's tests
// cannot import).
var kinds = config.Kinds{opcua.Kind, modbus.Kind, mqtt.Kind}

func load(data []byte, env func(string) (string, bool)) (*config.Config, error) {
	return config.Load(data, env, kinds)
}

func loadFile(path string) (*config.Config, error) { return config.LoadFile(path, kinds) }

// mqttSource returns the first MQTT source's section.
func mqttSource(cfg *config.Config) *mqtt.SourceSpec {
	return cfg.Sources.Of("mqtt")[0].Spec.(*mqtt.SourceSpec)
}

// opcuaSource returns the first OPC UA source's section.
func opcuaSource(cfg *config.Config) *opcua.SourceSpec {
	return cfg.Sources.Of("opcua")[0].Spec.(*opcua.SourceSpec)
}
