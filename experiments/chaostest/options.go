package chaostest

import (
	"fmt"
	"io"
	"time"

	"github.com/faultline-dev/faultline/experiments"
)

// ReportDirEnv names the environment variable that sets the default base directory
// of reports (e.g. a CI artifacts directory). WithReportDir takes precedence.
const ReportDirEnv = "CHAOS_REPORT_DIR"

// Option changes how Run and RunT load and run an experiment.
type Option func(*config)

type config struct {
	overrides      []func(*experiments.Experiment)
	registries     *experiments.Registries
	reportDir      string
	resources      map[string]any
	progress       io.Writer
	dryRun         bool
	recoverTimeout time.Duration
}

// WithOverride changes the experiment after it is loaded and before it is validated
// and run, e.g. to point a probe or a proxy at a server the test started on a random
// port. Overrides run in the order given. The experiment is validated after all of
// them, so an override cannot sneak in an invalid value. When ProbeSpec, FaultSpec or
// Proxy find nothing, the spec fails with their message.
func WithOverride(f func(e *experiments.Experiment)) Option {
	return func(c *config) { c.overrides = append(c.overrides, f) }
}

// WithReportDir sets the base directory of the reports: each run writes into its own
// sub-directory <dir>/<experiment>-<time>. Reports written there are kept. Without it,
// $CHAOS_REPORT_DIR is used; without either, reports go to a temporary directory that
// is removed after the spec or test when it passed and kept (path logged) when it failed.
func WithReportDir(dir string) Option {
	return func(c *config) { c.reportDir = dir }
}

// WithResource hands an object the test owns to the injectors of the run, by key
// (injectors.Env.Resources), e.g. a client your own fault kind needs. Keys
// "proxy/<name>" are taken by spec.proxies.
func WithResource(key string, value any) Option {
	return func(c *config) {
		if c.resources == nil {
			c.resources = map[string]any{}
		}
		c.resources[key] = value
	}
}

// WithProgress sends the runner's progress lines to w instead of GinkgoWriter (Run)
// or t.Output() (RunT). io.Discard silences them.
func WithProgress(w io.Writer) Option {
	return func(c *config) { c.progress = w }
}

// WithDryRun plans the experiment (resolving its targets) without injecting anything;
// the verdict is "planned" (expect it with HaveVerdict; res.Plan holds the plan).
func WithDryRun() Option {
	return func(c *config) { c.dryRun = true }
}

// WithRecoverTimeout bounds the safety-net recovery that runs after the spec or test
// (default 2m).
func WithRecoverTimeout(d time.Duration) Option {
	return func(c *config) { c.recoverTimeout = d }
}

func newConfig(opts []Option) *config {
	c := &config{recoverTimeout: 2 * time.Minute}
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
	return c
}

// ProbeSpec returns the spec of the named probe of e as T, for use in an override:
//
//	chaostest.ProbeSpec[*httpprobe.Spec](e, "checkout").URL = srv.URL
//
// It panics with a precise message when there is no such probe or its spec is not a T;
// inside WithOverride that panic fails the spec with the message.
func ProbeSpec[T any](e *experiments.Experiment, name string) T {
	var names []string
	for _, p := range e.Spec.SteadyState.Probes {
		if p.Name != name {
			names = append(names, p.Name)
			continue
		}
		s, ok := p.Spec.(T)
		if !ok {
			var zero T
			panic(lookupError(fmt.Sprintf("chaostest: probe %q is %q with spec %T, not %T", name, p.Kind, p.Spec, zero)))
		}
		return s
	}
	panic(lookupError(fmt.Sprintf("chaostest: experiment %q has no probe %q (probes: %v)", e.Metadata.Name, name, names)))
}

// FaultSpec returns the spec of the named fault of e as T (see ProbeSpec):
//
//	chaostest.FaultSpec[*flipflag.Spec](e, "flag-on").Path = flagFile
func FaultSpec[T any](e *experiments.Experiment, name string) T {
	var names []string
	for _, f := range e.Spec.Faults {
		if f.Name != name {
			names = append(names, f.Name)
			continue
		}
		s, ok := f.Spec.(T)
		if !ok {
			var zero T
			panic(lookupError(fmt.Sprintf("chaostest: fault %q is %q with spec %T, not %T", name, f.Kind, f.Spec, zero)))
		}
		return s
	}
	panic(lookupError(fmt.Sprintf("chaostest: experiment %q has no fault %q (faults: %v)", e.Metadata.Name, name, names)))
}

// Proxy returns the named entry of e.Spec.Proxies for an override, e.g. to point it
// at an upstream the test started: chaostest.Proxy(e, "payments").Upstream = addr.
// It panics with a precise message when there is no such proxy.
func Proxy(e *experiments.Experiment, name string) *experiments.ProxySpec {
	var names []string
	for i := range e.Spec.Proxies {
		if e.Spec.Proxies[i].Name == name {
			return &e.Spec.Proxies[i]
		}
		names = append(names, e.Spec.Proxies[i].Name)
	}
	panic(lookupError(fmt.Sprintf("chaostest: experiment %q has no proxy %q (proxies: %v)", e.Metadata.Name, name, names)))
}

// lookupError is the panic value of ProbeSpec, FaultSpec and Proxy; Run turns it into
// a spec failure. Other panics in an override propagate with their stack.
type lookupError string

func (e lookupError) Error() string { return string(e) }

// WithRegistries runs the experiment with reg instead of experiments.DefaultRegistries(),
// e.g. registries on which the suite registered its own injectors and probes:
//
//	reg, _ := experiments.DefaultRegistries()
//	_ = reg.Injectors.Register(myInjectorDefinition)
//	chaostest.Run(ctx, chaostest.File("x.yaml"), chaostest.WithRegistries(reg))
func WithRegistries(reg experiments.Registries) Option {
	return func(c *config) { c.registries = &reg }
}
