package controlplane

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/internal/testenv/buildcache"
)

// Versions of the components. They must match the require lines of the build
// modules under build/ (a unit test checks that).
const (
	KubernetesVersion = "v1.32.4"
	EtcdVersion       = "v3.5.17"
	KwokVersion       = "v0.6.1"
)

// Version is the cache key of one set of binaries.
const Version = "kube-" + KubernetesVersion + "_etcd-" + EtcdVersion + "_kwok-" + KwokVersion

// Binary names, as found in the bin directory.
const (
	Etcd                  = "etcd"
	KubeAPIServer         = "kube-apiserver"
	KubeControllerManager = "kube-controller-manager"
	KubeScheduler         = "kube-scheduler"
	Kwok                  = "kwok"
)

// Environment variables that change where binaries come from.
const (
	// EnvBinDir names a directory holding all five binaries already built; nothing is
	// built then.
	EnvBinDir = "FAULTLINE_CONTROLPLANE_BIN"
	// EnvBuildDir names the directory holding the build modules (…/controlplane/build),
	// for binaries built with -trimpath where the source location is not known.
	EnvBuildDir = "FAULTLINE_CONTROLPLANE_BUILD"
)

// buildModule is one build module under build/ and the commands it builds.
type buildModule struct {
	dir      string   // under build/
	packages []string // import paths of main packages
	bins     []string // the binaries they produce
}

var buildModules = []buildModule{
	{dir: "etcd", packages: []string{"go.etcd.io/etcd/server/v3"}, bins: []string{Etcd}},
	{dir: "kwok", packages: []string{"sigs.k8s.io/kwok/cmd/kwok"}, bins: []string{Kwok}},
	{dir: "kube", packages: []string{
		"k8s.io/kubernetes/cmd/kube-apiserver",
		"k8s.io/kubernetes/cmd/kube-controller-manager",
		"k8s.io/kubernetes/cmd/kube-scheduler",
	}, bins: []string{KubeAPIServer, KubeControllerManager, KubeScheduler}},
}

// allBinaries lists the five binaries a control plane needs.
func allBinaries() []string {
	return []string{Etcd, KubeAPIServer, KubeControllerManager, KubeScheduler, Kwok}
}

// CacheDir is where binaries of this Version are cached:
// os.UserCacheDir()/faultline/controlplane/<Version>.
func CacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("control plane cache: %w", err)
	}
	return filepath.Join(base, "faultline", "controlplane", Version), nil
}

// EnsureBinaries returns a directory holding etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok, building them from the build
// modules with the go command when they are not cached yet (several minutes cold).
// An exclusive file lock makes concurrent callers, e.g. parallel test packages,
// build only once; the others wait for it. logf (may be nil) receives progress.
func EnsureBinaries(ctx context.Context, logf func(string, ...any)) (string, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if dir := os.Getenv(EnvBinDir); dir != "" {
		if missing := missingBinaries(dir); len(missing) > 0 {
			return "", fmt.Errorf("control plane binaries: $%s=%s lacks %s", EnvBinDir, dir, strings.Join(missing, ", "))
		}
		return dir, nil
	}
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(cache, "bin")
	if len(missingBinaries(bin)) == 0 {
		return bin, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", fmt.Errorf("control plane cache: %w", err)
	}
	unlock, err := buildcache.Lock(ctx, filepath.Join(cache, "build.lock"), "the control plane", logf)
	if err != nil {
		return "", err
	}
	defer unlock()
	if len(missingBinaries(bin)) == 0 { // built by another process while we waited
		return bin, nil
	}
	src, err := buildDir()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return "", fmt.Errorf("control plane cache: %w", err)
	}
	start := time.Now()
	for _, m := range buildModules {
		if len(missingBinaries(bin, m.bins...)) == 0 {
			continue
		}
		if err := build(ctx, filepath.Join(src, m.dir), bin, m, logf); err != nil {
			return "", err
		}
	}
	logf("control plane binaries built in %s into %s", time.Since(start).Round(time.Second), bin)
	return bin, nil
}

// build compiles the packages of m into a temporary directory next to bin and
// renames each binary into place, so that a binary in bin is always complete.
func build(ctx context.Context, modDir, bin string, m buildModule, logf func(string, ...any)) error {
	tmp, err := os.MkdirTemp(filepath.Dir(bin), "build-")
	if err != nil {
		return fmt.Errorf("building %s: %w", m.dir, err)
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	logf("building %s (first run only, cached under %s)", strings.Join(m.bins, ", "), bin)
	out := tmp + string(filepath.Separator) // one binary per package, named after it
	if len(m.packages) == 1 {
		out = filepath.Join(tmp, m.bins[0]) // go.etcd.io/etcd/server/v3 would be "server"
	}
	args := append([]string{"build", "-trimpath", "-ldflags=-s -w", "-o", out}, m.packages...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = modDir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly -buildvcs=false", "GONOSUMDB="+buildcache.JoinEnv(os.Getenv("GONOSUMDB"), "k8s.io"))
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building %s in %s: %w\n%s", strings.Join(m.bins, ", "), modDir, err, buildcache.Tail(log.String(), 40))
	}
	for _, b := range m.bins {
		if err := os.Rename(filepath.Join(tmp, b), filepath.Join(bin, b)); err != nil {
			return fmt.Errorf("installing %s: %w", b, err)
		}
	}
	logf("built %s in %s", strings.Join(m.bins, ", "), time.Since(start).Round(time.Second))
	return nil
}

// missingBinaries returns those of names (default: all five) not present in dir.
func missingBinaries(dir string, names ...string) []string {
	if len(names) == 0 {
		names = allBinaries()
	}
	var missing []string
	for _, n := range names {
		if st, err := os.Stat(filepath.Join(dir, n)); err != nil || st.Mode()&0o111 == 0 {
			missing = append(missing, n)
		}
	}
	return missing
}

// buildDir finds build/: $FAULTLINE_CONTROLPLANE_BUILD, next to this source file, or
// internal/testenv/controlplane/build above the working directory.
func buildDir() (string, error) {
	_, file, _, _ := runtime.Caller(0)
	return buildcache.FindDir(EnvBuildDir, filepath.Dir(file), "internal/testenv/controlplane/build", filepath.Join("kube", "go.mod"), "control plane build modules")
}
