package chaosmesh

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"embed"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/faultline-dev/faultline/internal/testenv/buildcache"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

//go:embed crds/*.yaml
var crdFiles embed.FS

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// InstallCRDs creates Chaos Mesh's 23 CRDs (a plain Create: workflownodes,
// schedules and workflows exceed client-side apply's annotation limit) and waits
// until the API server serves them. Existing CRDs are left as they are.
func InstallCRDs(ctx context.Context, cfg *rest.Config) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("installing Chaos Mesh CRDs: %w", err)
	}
	files, err := fs.Glob(crdFiles, "crds/*.yaml")
	if err != nil || len(files) == 0 {
		return fmt.Errorf("installing Chaos Mesh CRDs: none embedded (%v)", err)
	}
	var names []string
	for _, f := range files {
		b, err := crdFiles.ReadFile(f)
		if err != nil {
			return err
		}
		var obj map[string]any
		if err := yaml.Unmarshal(b, &obj); err != nil {
			return fmt.Errorf("reading %s: %w", f, err)
		}
		u := &unstructured.Unstructured{Object: obj}
		_, err = dyn.Resource(crdGVR).Create(ctx, u, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating CRD %s: %w", u.GetName(), err)
		}
		names = append(names, u.GetName())
	}
	for _, n := range names {
		for {
			u, err := dyn.Resource(crdGVR).Get(ctx, n, metav1.GetOptions{})
			if err == nil && established(u) {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("CRD %s not established: %w", n, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

func established(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// Controller is a running chaos-controller-manager.
type Controller struct {
	Dir string // certificates and the log
	Log string // path of its combined output

	cmd      *exec.Cmd
	done     chan struct{}
	thread   chan struct{} // closed to release the spawning thread
	stopOnce sync.Once
}

// StartController starts chaos-controller-manager (EnsureController) against the
// cluster of kubeconfig, without leader election, webhooks or chaos-daemon TLS,
// with a self-signed serving certificate, on free ports. dir keeps its files.
// The process gets SIGKILL if the test binary dies; Stop ends it.
func StartController(ctx context.Context, kubeconfig, dir string, logf func(string, ...any)) (*Controller, error) {
	bin, err := EnsureController(ctx, logf)
	if err != nil {
		return nil, err
	}
	certs := filepath.Join(dir, "certs")
	if err := os.MkdirAll(certs, 0o755); err != nil {
		return nil, err
	}
	if err := selfSigned(certs); err != nil {
		return nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	c := &Controller{Dir: dir, Log: filepath.Join(dir, "chaos-controller-manager.log"), done: make(chan struct{}), thread: make(chan struct{})}
	logFile, err := os.Create(c.Log)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "--kubeconfig", kubeconfig)
	cmd.Env = append(os.Environ(),
		"ENABLE_LEADER_ELECTION=false", "ENABLED_WEBHOOKS=", "SECURITY_MODE=false", "CHAOSD_SECURITY_MODE=false",
		"WEBHOOK_HOST=127.0.0.1", "WEBHOOK_PORT="+strconv.Itoa(ports[0]),
		"METRICS_HOST=127.0.0.1", "METRICS_PORT="+strconv.Itoa(ports[1]),
		"NAMESPACE=chaos-mesh", "CERTS_DIR="+certs)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	c.cmd = cmd
	started := make(chan error, 1)
	go func() { // Pdeathsig follows the forking thread: keep it for the process' life
		runtime.LockOSThread()
		started <- cmd.Start()
		<-c.thread
	}()
	if err := <-started; err != nil {
		close(c.thread)
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() { _ = cmd.Wait(); close(c.done) }()
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[1])
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			logf("chaos-controller-manager up (pid %d, log %s)", cmd.Process.Pid, c.Log)
			return c, nil
		}
		select {
		case <-c.done:
			close(c.thread)
			return nil, fmt.Errorf("chaos-controller-manager exited at start:\n%s", c.Tail(30))
		case <-ctx.Done():
			c.Stop()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.Stop()
			return nil, fmt.Errorf("chaos-controller-manager not serving metrics after 2m:\n%s", c.Tail(30))
		}
	}
}

// Stop ends the controller (SIGTERM to its process group, SIGKILL after 5 s) and waits.
func (c *Controller) Stop() {
	c.stopOnce.Do(func() {
		pid := c.cmd.Process.Pid
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-c.done
		}
		close(c.thread)
	})
}

// Tail returns the last n lines of the controller's log.
func (c *Controller) Tail(n int) string {
	b, _ := os.ReadFile(c.Log)
	return buildcache.Tail(string(b), n)
}

// selfSigned writes tls.crt and tls.key for 127.0.0.1 (the webhook server Chaos
// Mesh starts even with no webhook enabled needs them).
func selfSigned(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "chaos-mesh-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return errors.Join(
		os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644),
		os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600))
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
