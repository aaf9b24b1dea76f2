package main

import (
	"flag"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// The Chaos Mesh api module pulls in controller-runtime, which registers a global Go
// flag "kubeconfig" at init. chaos parses its flags with cobra/pflag and never adds
// the Go flag set, so its own --kubeconfig must keep working and nothing may panic.
func TestKubeconfigFlagUnaffectedByControllerRuntime(t *testing.T) {
	if flag.Lookup("kubeconfig") == nil {
		t.Fatal("controller-runtime's global Go flag kubeconfig is not registered: this test no longer covers the conflict")
	}
	// A kubeconfig naming a server nobody listens on: the dry run must try exactly it.
	addr := freePort(t)
	kc := writeFile(t, "kubeconfig", fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://%s", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`, addr))
	exp := writeFile(t, "exp.yaml", `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: flag-check}
spec:
  target: {kubernetes: {}}
  steadyState:
    probes:
      - {name: up, tcp: {address: "127.0.0.1:1"}}
  faults:
    - name: slow-web
      networkLatency: {target: {pods: {namespaces: [shop], labelSelector: app=web}}, delay: 100ms}
      duration: 5s
`)
	for _, args := range [][]string{
		{"run", "--dry-run", "--kubeconfig", kc, exp},
		{"run", "--dry-run", "--kubeconfig=" + kc, exp},
	} {
		code, out, errOut := runCLI(t, args...)
		if code != 3 || !strings.Contains(out+errOut, addr) {
			t.Fatalf("%v: exit %d, want 3 and an error naming the kubeconfig's server %s\n%s\n%s", args, code, addr, out, errOut)
		}
	}
	// The real binary, whose os.Args nobody else parses: same flag, no panic, and the
	// Go flag does not leak into the CLI.
	out, err := exec.Command(chaosBin, "run", "--dry-run", "--kubeconfig", kc, exp).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 || !strings.Contains(string(out), addr) {
		t.Fatalf("chaos run --kubeconfig: %v\n%s", err, out)
	}
	out, err = exec.Command(chaosBin, "--kubeconfig", kc, "version").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "unknown flag: --kubeconfig") {
		t.Fatalf("chaos --kubeconfig version: want exit 2 and unknown flag (only run and recover take it): %v\n%s", err, out)
	}
	help, err := exec.Command(chaosBin, "run", "--help").CombinedOutput()
	if err != nil || strings.Count(string(help), "--kubeconfig") != 1 {
		t.Fatalf("chaos run --help: want --kubeconfig listed once: %v\n%s", err, help)
	}
}
