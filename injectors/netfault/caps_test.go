package netfault

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	fixture "github.com/faultline-dev/faultline/internal/testenv/netns"
)

// capsChild is the body of the unprivileged child of TestPrivileges: it plans a
// partition of the namespace in NETFAULT_CAPS_NS and prints the error.
func capsChild(ns string) {
	f := newPartition(&PartitionSpec{Target: Target{NetNS: ns}, CIDRs: []string{"192.0.2.1"}}, envOrEmpty(nil))
	_, err := f.Plan(context.Background())
	fmt.Println("PLAN:", err)
}

// TestPrivileges runs the test binary as uid 65534, once without capabilities
// and once with only CAP_NET_ADMIN, and checks that Plan names the capability
// that is missing.
func TestPrivileges(t *testing.T) {
	p := fixture.NewPair(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "netfault.test")
	copyExec(t, os.Args[0], bin)
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	cases := []struct {
		name, ns string
		caps     []uintptr
		want     string
	}{
		{"no capabilities", "/proc/self/ns/net", nil, "network faults need CAP_NET_ADMIN"},
		{"net admin only, other namespace", p.A.Path, []uintptr{capNetAdmin}, "entering network namespace " + p.A.Path + " needs CAP_SYS_ADMIN"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(bin, "-test.run=^$")
			cmd.Env = append(os.Environ(), "NETFAULT_CAPS_NS="+c.ns)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}, AmbientCaps: c.caps}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v: %s", err, out)
			}
			if !strings.Contains(string(out), "PLAN: "+c.want) {
				t.Fatalf("child said %q, want %q", out, c.want)
			}
		})
	}
}

func copyExec(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
