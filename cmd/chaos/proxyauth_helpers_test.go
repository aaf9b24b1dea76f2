package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const proxyToken = "tok-7f3a9c21e4b8d05f6a7b8c9d" // what the tests protect the API with

// lockedBuffer is an io.Writer the test can read while a process writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// cleanEnv is the test's environment without Faultline's proxy variables.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FAULTLINE_PROXY_") && !strings.HasPrefix(kv, "TOXIPROXY_URL=") && !strings.HasPrefix(kv, "SSL_CERT_FILE=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

var apiLineRE = regexp.MustCompile(`API on (https?)://(\S+) `)

// startChaosProxy runs `chaos proxy args...` (through prefix, e.g. ip netns exec)
// and waits for the line naming its API; it returns the API's host:port and the
// process's output. The process is stopped at cleanup.
func startChaosProxy(t *testing.T, env []string, prefix []string, args ...string) (string, *lockedBuffer) {
	t.Helper()
	argv := append(append(append([]string{}, prefix...), chaosBin, "proxy"), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.After(15 * time.Second)
	for {
		if m := apiLineRE.FindStringSubmatch(out.String()); m != nil {
			return m[2], out
		}
		select {
		case <-exited:
			t.Fatalf("chaos proxy %v exited: %s", args, out)
		case <-deadline:
			t.Fatalf("chaos proxy %v did not report its API: %s", args, out)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// runChaos runs the real binary to completion: exit code and combined output.
func runChaos(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	return runCmd(t, env, chaosBin, args...)
}

func writeSecret(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// tcpEcho serves a TCP echo on addr ("IP:0") until the test ends.
func tcpEcho(t *testing.T, addr string) string {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return l.Addr().String()
}

// echoRTT sends a line through addr and times its echo.
func echoRTT(addr string) (time.Duration, error) {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return 0, err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "ping\n" {
		return 0, fmt.Errorf("echo: %q %v", line, err)
	}
	return time.Since(start), nil
}

// selfSigned writes a certificate and key for 127.0.0.1 and returns their paths.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "chaos proxy test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "api.crt"), filepath.Join(dir, "api.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

var (
	cliOnce sync.Once
	cliPath string
	cliErr  error
)

// toxiproxyCLI returns Toxiproxy 2.12's toxiproxy-cli, built from the Go module
// proxy once and cached in the user cache directory (faultline/toxiproxy-cli-v2.12.0).
// The test skips, with the reason, only if it cannot be built (no network, no proxy).
func toxiproxyCLI(t *testing.T) string {
	t.Helper()
	cliOnce.Do(func() {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir := filepath.Join(cache, "faultline", "toxiproxy-cli-v2.12.0")
		cliPath = filepath.Join(dir, "toxiproxy-cli")
		if _, err := os.Stat(cliPath); err == nil {
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			cliErr = err
			return
		}
		tmp, err := os.MkdirTemp(dir, "build-")
		if err != nil {
			cliErr = err
			return
		}
		defer os.RemoveAll(tmp)
		cmd := exec.Command("go", "install", "github.com/Shopify/toxiproxy/v2/cmd/cli@v2.12.0")
		cmd.Dir = tmp
		cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=-buildvcs=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			cliErr = fmt.Errorf("go install github.com/Shopify/toxiproxy/v2/cmd/cli@v2.12.0: %v\n%s", err, out)
			return
		}
		cliErr = os.Rename(filepath.Join(tmp, "cli"), cliPath) // atomic: a parallel build loses harmlessly
	})
	if cliErr != nil {
		t.Skipf("toxiproxy-cli could not be built from the Go module proxy: %v", cliErr)
	}
	return cliPath
}

// toxiCLI runs toxiproxy-cli with args and returns its exit code and output.
func toxiCLI(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(toxiproxyCLI(t), args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// runCmd runs a command to completion (60 s at most): exit code and output.
func runCmd(t *testing.T, env []string, name string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not finish: %s", name, args, out)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// execChaos prepares the real binary with env.
func execChaos(env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(chaosBin, args...)
	cmd.Env = env
	return cmd
}
