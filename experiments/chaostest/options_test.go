package chaostest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiments"
)

func TestOptions(t *testing.T) {
	var w bytes.Buffer
	reg := experiments.Registries{}
	c := newConfig([]Option{
		WithResource("proxy/a", 1), WithResource("proxy/b", "two"), nil,
		WithReportDir("/reports"), WithProgress(&w), WithDryRun(), WithRegistries(reg),
		WithRecoverTimeout(time.Second),
		WithOverride(func(e *experiments.Experiment) { e.Metadata.Name += "-1" }),
		WithOverride(func(e *experiments.Experiment) { e.Metadata.Name += "-2" }),
	})
	if len(c.resources) != 2 || c.resources["proxy/a"] != 1 || c.resources["proxy/b"] != "two" {
		t.Errorf("resources %v", c.resources)
	}
	if c.reportDir != "/reports" || c.progress != &w || !c.dryRun || c.registries == nil || c.recoverTimeout != time.Second {
		t.Errorf("config %+v", c)
	}
	e := &experiments.Experiment{Metadata: experiments.Metadata{Name: "x"}}
	if err := applyOverrides(e, c.overrides); err != nil || e.Metadata.Name != "x-1-2" {
		t.Errorf("overrides: %v, name %q (want them applied in order)", err, e.Metadata.Name)
	}
	if d := newConfig(nil); d.recoverTimeout != 2*time.Minute || d.registries != nil || d.dryRun {
		t.Errorf("defaults %+v", d)
	}
}

func TestLookupHelpers(t *testing.T) {
	e := &experiments.Experiment{Metadata: experiments.Metadata{Name: "shop"}, Spec: experiments.Spec{
		Proxies: []experiments.ProxySpec{{Name: "payments", Listen: "127.0.0.1:1"}},
	}}
	Proxy(e, "payments").Listen = "127.0.0.1:2"
	if e.Spec.Proxies[0].Listen != "127.0.0.1:2" {
		t.Error("Proxy did not return the entry itself")
	}
	err := applyOverrides(e, []func(*experiments.Experiment){func(e *experiments.Experiment) { Proxy(e, "stock") }})
	if err == nil || err.Error() != `override 1: chaostest: experiment "shop" has no proxy "stock" (proxies: [payments])` {
		t.Errorf("missing proxy: %v", err)
	}
}

func TestReportDirNaming(t *testing.T) {
	base := filepath.Join(t.TempDir(), "new", "dir")
	dir, keep, err := makeReportDir(base, "Checkout outage/β")
	if err != nil || !keep || filepath.Dir(dir) != base {
		t.Fatalf("makeReportDir(%s) = %s, %v, %v", base, dir, keep, err)
	}
	if name := filepath.Base(dir); !strings.HasPrefix(name, "Checkout_outage__-") {
		t.Errorf("report dir name %q is not file-safe", name)
	}
	t.Setenv(ReportDirEnv, "")
	dir, keep, err = makeReportDir("", "x")
	if err != nil || keep || !strings.HasPrefix(filepath.Base(dir), "faultline-report-x-") {
		t.Errorf("default report dir %s, keep %v, %v", dir, keep, err)
	}
	_ = os.RemoveAll(dir)
}
