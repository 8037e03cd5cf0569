// Package k8s holds the Kubernetes manifests; this test checks the configuration they
// carry with the aggregator's own loaders.
package k8s

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/ganlink/ganlink/gateway/aggregator"
	"github.com/ganlink/ganlink/gateway/aggregator/api"
	"github.com/ganlink/ganlink/gateway/aggregator/registry"
)

// TestAggregatorManifest loads the ConfigMap's aggregator configuration and registry and
// the Secret's tokens file as the aggregator would after `kubectl apply`.
func TestAggregatorManifest(t *testing.T) {
	b, err := os.ReadFile("aggregator.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc struct {
			Kind       string            `yaml:"kind"`
			Data       map[string]string `yaml:"data"`
			StringData map[string]string `yaml:"stringData"`
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		for k, v := range doc.Data {
			files[doc.Kind+"/"+k] = v
		}
		for k, v := range doc.StringData {
			files[doc.Kind+"/"+k] = v
		}
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "aggregator.yaml")
	if err := os.WriteFile(cfgPath, []byte(files["ConfigMap/aggregator.yaml"]), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := aggregator.LoadConfig(cfgPath); err != nil {
		t.Errorf("ConfigMap aggregator.yaml: %v", err)
	}
	reg, err := registry.Parse("registry.yaml", []byte(files["ConfigMap/registry.yaml"]), nil)
	if err != nil {
		t.Fatalf("ConfigMap registry.yaml: %v", err)
	}
	if reg.Region("360000") == nil {
		t.Error("the registry has no province")
	}
	if _, err := api.ParseTokens([]byte(files["Secret/tokens.yaml"])); err != nil {
		t.Errorf("Secret tokens.yaml: %v", err)
	}
}
