// Package chaosmesh runs Chaos Mesh for tests: it installs the CRDs generated from
// the pinned api module (crds/, `make chaos-mesh-crds`) into a test control plane
// and starts Chaos Mesh's real chaos-controller-manager against it, built once from
// the Go module proxy (build/ccm) and cached by version, like the control plane.
//
// kwok nodes run no chaos-daemon, so faults that need the daemon (NetworkChaos,
// StressChaos, ...) fail on every pod with Chaos Mesh's own message ("cannot find
// daemonIP on node ..."), while PodChaos pod-kill works end to end.
package chaosmesh

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/faultline-dev/faultline/internal/testenv/buildcache"
)

// Version is the chaos-controller-manager built: the require line of build/ccm
// (a unit test checks they agree) and the api module it is built with.
const (
	Version    = "v0.9.1-0.20260902003049-47411975a8cb"
	APIVersion = "v0.0.0-20260906172039-d70b66ad97ac"
	// Binary is the name of the cached binary.
	Binary = "chaos-controller-manager"
)

// Environment variables that change where the binary comes from.
const (
	// EnvBin names a prebuilt chaos-controller-manager; nothing is built then.
	EnvBin = "FAULTLINE_CHAOS_MESH_BIN"
	// EnvBuildDir names the build/ directory when the source location is unknown.
	EnvBuildDir = "FAULTLINE_CHAOS_MESH_BUILD"
)

// CacheDir is os.UserCacheDir()/faultline/chaosmesh/<Version>_api-<APIVersion>.
func CacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("chaos mesh cache: %w", err)
	}
	return filepath.Join(base, "faultline", "chaosmesh", Version+"_api-"+APIVersion), nil
}

// EnsureController returns the path of chaos-controller-manager, building it on
// first use (about 8 minutes cold on 2 cores, a 200 MB binary). An exclusive file
// lock makes concurrent callers build once. logf (may be nil) receives progress.
func EnsureController(ctx context.Context, logf func(string, ...any)) (string, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if p := os.Getenv(EnvBin); p != "" {
		if !executable(p) {
			return "", fmt.Errorf("chaos mesh: $%s=%s is not an executable", EnvBin, p)
		}
		return p, nil
	}
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(cache, "bin", Binary)
	if executable(bin) {
		return bin, nil
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", fmt.Errorf("chaos mesh cache: %w", err)
	}
	unlock, err := buildcache.Lock(ctx, filepath.Join(cache, "build.lock"), Binary, logf)
	if err != nil {
		return "", err
	}
	defer unlock()
	if executable(bin) { // built by another process while we waited
		return bin, nil
	}
	src, err := buildDir()
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(cache, "build-")
	if err != nil {
		return "", fmt.Errorf("chaos mesh cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	logf("building %s %s (first run only, ~8 min on 2 cores; cached under %s)", Binary, Version, cache)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(tmp, Binary),
		"github.com/chaos-mesh/chaos-mesh/cmd/chaos-controller-manager")
	cmd.Dir = filepath.Join(src, "ccm")
	// The checksum database has no entry for github.com/chaos-mesh/fx-logr and
	// answers 404 for k8s.io/*; go.sum still pins every hash.
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly -buildvcs=false",
		"GONOSUMDB="+buildcache.JoinEnv(os.Getenv("GONOSUMDB"), "k8s.io,github.com/chaos-mesh"))
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building %s in %s: %w\n%s", Binary, cmd.Dir, err, buildcache.Tail(log.String(), 40))
	}
	if err := os.Rename(filepath.Join(tmp, Binary), bin); err != nil {
		return "", fmt.Errorf("installing %s: %w", Binary, err)
	}
	logf("built %s in %s", Binary, time.Since(start).Round(time.Second))
	return bin, nil
}

func executable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// buildDir finds build/: $FAULTLINE_CHAOS_MESH_BUILD, next to this source file, or
// internal/testenv/chaosmesh/build above the working directory.
func buildDir() (string, error) {
	_, file, _, _ := runtime.Caller(0)
	return buildcache.FindDir(EnvBuildDir, filepath.Dir(file), "internal/testenv/chaosmesh/build", filepath.Join("ccm", "go.mod"), "chaos mesh build module")
}
