package controlplane

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The cache key must name the versions the build modules really pin.
func TestVersionsMatchBuildModules(t *testing.T) {
	dir, err := buildDir()
	if err != nil {
		t.Fatal(err)
	}
	for mod, want := range map[string]string{
		"kube": "k8s.io/kubernetes " + KubernetesVersion,
		"etcd": "go.etcd.io/etcd/server/v3 " + EtcdVersion,
		"kwok": "sigs.k8s.io/kwok " + KwokVersion,
	} {
		b, err := os.ReadFile(filepath.Join(dir, mod, "go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "require "+want) {
			t.Errorf("build/%s/go.mod does not require %s", mod, want)
		}
		if _, err := os.Stat(filepath.Join(dir, mod, "go.sum")); err != nil {
			t.Errorf("build/%s/go.sum: %v", mod, err)
		}
	}
}

// Start really serves the API with kwok nodes Ready, and Stop kills every
// component it started and removes its temporary directory.
func TestStartStop(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starting a control plane takes seconds (minutes on a cold build)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cp, err := Start(ctx, Options{Nodes: 2, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop(context.Background()) })
	c, err := cp.Client()
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := c.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 2 {
		t.Errorf("%d nodes, want 2", len(nodes.Items))
	}
	st, err := ReadState(cp.Dir)
	if err != nil {
		t.Fatal(err)
	}
	pids := cp.PIDs()
	if len(pids) != 5 || len(st.Processes) != 5 {
		t.Fatalf("pids %v, state %v", pids, st.Processes)
	}
	for name, pid := range pids {
		if pgid, _ := syscall.Getpgid(pid); pgid != pid {
			t.Errorf("%s (pid %d) is not its own process group leader (pgid %d)", name, pid, pgid)
		}
	}
	if err := cp.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for name, pid := range pids {
		if alive(pid) {
			t.Errorf("%s (pid %d) still running after Stop", name, pid)
		}
	}
	if _, err := os.Stat(cp.Dir); !os.IsNotExist(err) {
		t.Errorf("temporary dir %s not removed: %v", cp.Dir, err)
	}
	if err := cp.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// A detached control plane (cluster up) is stopped from its state file alone.
func TestDetachedStopDir(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starting a control plane takes seconds")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	dir := t.TempDir()
	cp, err := Start(ctx, Options{Dir: dir, Nodes: 1, Detach: true, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	pids := cp.PIDs()
	t.Cleanup(func() { _ = StopDir(context.Background(), dir, true) })
	for name, pid := range pids {
		if sid, _ := unix.Getsid(pid); sid != pid {
			t.Errorf("%s (pid %d) not in its own session (sid %d)", name, pid, sid)
		}
	}
	if err := StopDir(ctx, dir, false); err != nil {
		t.Fatal(err)
	}
	for name, pid := range pids {
		if alive(pid) {
			t.Errorf("%s (pid %d) still running after StopDir", name, pid)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, StateFile)); !os.IsNotExist(err) {
		t.Errorf("state file left behind: %v", err)
	}
	if err := StopDir(ctx, dir, false); err != nil {
		t.Errorf("StopDir without state: %v", err)
	}
}
