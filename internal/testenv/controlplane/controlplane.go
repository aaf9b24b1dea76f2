// Package controlplane runs a real Kubernetes control plane on loopback for tests
// and for humans (cmd/cluster): etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler and kwok, which plays the kubelets of fake nodes so that
// Deployments really re-create killed pods and they become Ready.
//
//	EnsureBinaries ──(build once per Version, flock)──▶ <cache>/bin
//	Start ──▶ etcd ─▶ kube-apiserver ─▶ /readyz ─▶ controller-manager, scheduler, kwok
//	      ──▶ kubeconfig (token, CA) ─▶ kwok nodes Ready ─▶ "default" ServiceAccount
//	Stop  ──▶ SIGTERM/SIGKILL each process group (reverse order) ─▶ remove temp dir
//
// Every component runs in its own process group on free 127.0.0.1 ports; no root is
// needed. The binaries are built from the Go module proxy by the build modules under
// build/ (separate Go modules, so their dependencies stay out of the main module).
// Attached components die with the process that started them (Pdeathsig), even on
// kill -9; Stop is idempotent and safe to call from a deferred cleanup.
package controlplane

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/faultline-dev/faultline/internal/kube"
	"github.com/faultline-dev/faultline/internal/testenv/buildcache"
)

// tempDirPattern names the temporary directories of Start (Options.Dir empty).
const tempDirPattern = "faultline-controlplane-"

// Options configure Start.
type Options struct {
	// Dir holds data, certificates, logs, the kubeconfig and state.json. Empty: a new
	// temporary directory, removed by Stop.
	Dir string
	// Nodes is the number of kwok nodes to create (default 1); each takes PodsPerNode.
	Nodes int
	// PodsPerNode is each node's pod capacity (default 110, as a kubelet).
	PodsPerNode int
	// ControllerQPS is the client QPS of the controller-manager and scheduler (burst
	// is twice that). Default 500; Kubernetes' own default is 20, which makes a
	// ReplicaSet re-create 300 pods at 20 per second.
	ControllerQPS int
	// PodReadyDelay is how long after scheduling kwok reports a pod Ready (default
	// 0: at once). A real kubelet needs a second or more; a delay makes healing
	// observable by probes sampling every few tens of milliseconds.
	PodReadyDelay time.Duration
	// Detach starts the components in their own sessions so they outlive this
	// process (cmd/cluster up); stop them with StopDir.
	Detach bool
	// StartTimeout bounds Start after the binaries exist (default 2m).
	StartTimeout time.Duration
	// Logf receives progress lines (may be nil).
	Logf func(format string, args ...any)
}

// ControlPlane is a running control plane.
type ControlPlane struct {
	Dir        string // state directory
	BinDir     string // where the binaries came from
	Kubeconfig string // path of the admin kubeconfig
	Server     string // https://127.0.0.1:port
	Token      string // admin bearer token (system:masters)

	opts    Options
	tempDir bool
	cfg     *rest.Config
	sp      *spawner
	mu      sync.Mutex
	procs   []*process
	stopped bool
	stopErr error
}

// Start builds the binaries if needed (EnsureBinaries) and starts a control plane.
// On error everything already started is stopped again.
func Start(ctx context.Context, opts Options) (cp *ControlPlane, err error) {
	if opts.Nodes == 0 {
		opts.Nodes = 1
	}
	if opts.PodsPerNode == 0 {
		opts.PodsPerNode = 110
	}
	if opts.ControllerQPS == 0 {
		opts.ControllerQPS = 500
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 2 * time.Minute
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	bin, err := EnsureBinaries(ctx, opts.Logf)
	if err != nil {
		return nil, err
	}
	c := &ControlPlane{BinDir: bin, opts: opts, Dir: opts.Dir}
	if c.Dir == "" {
		removeStaleTempDirs()
		if c.Dir, err = os.MkdirTemp("", tempDirPattern); err != nil {
			return nil, fmt.Errorf("control plane dir: %w", err)
		}
		c.tempDir = true
	}
	if c.Dir, err = filepath.Abs(c.Dir); err != nil {
		return nil, fmt.Errorf("control plane dir: %w", err)
	}
	if !opts.Detach {
		c.sp = newSpawner()
	}
	defer func() {
		if err != nil {
			_ = c.Stop(context.WithoutCancel(ctx))
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	started := time.Now()
	if err := c.start(ctx); err != nil {
		return nil, fmt.Errorf("starting control plane in %s: %w", c.Dir, err)
	}
	opts.Logf("control plane up in %s: %s, %d kwok nodes, kubeconfig %s",
		time.Since(started).Round(10*time.Millisecond), c.Server, opts.Nodes, c.Kubeconfig)
	return c, nil
}

func (c *ControlPlane) start(ctx context.Context) error {
	for _, d := range []string{"etcd", "certs", "logs"} {
		if err := os.MkdirAll(filepath.Join(c.Dir, d), 0o755); err != nil {
			return err
		}
	}
	ports, err := freePorts(4)
	if err != nil {
		return err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	c.Server = "https://127.0.0.1:" + strconv.Itoa(ports[2])
	if err := c.writeSecrets(); err != nil {
		return err
	}
	p := func(name string) string { return filepath.Join(c.Dir, name) }

	if err := c.run(Etcd, "--data-dir", p("etcd"), "--listen-client-urls", etcdURL,
		"--advertise-client-urls", etcdURL, "--listen-peer-urls", "http://127.0.0.1:"+strconv.Itoa(ports[1]),
		"--initial-advertise-peer-urls", "http://127.0.0.1:"+strconv.Itoa(ports[1]),
		"--initial-cluster", "default=http://127.0.0.1:"+strconv.Itoa(ports[1]),
		"--unsafe-no-fsync", "--quota-backend-bytes", "4294967296"); err != nil {
		return err
	}
	if err := c.waitHTTP(ctx, etcdURL+"/health", "", Etcd); err != nil {
		return err
	}
	if err := c.run(KubeAPIServer, "--etcd-servers", etcdURL, "--secure-port", strconv.Itoa(ports[2]),
		"--bind-address", "127.0.0.1", "--cert-dir", p("certs"), "--token-auth-file", p("tokens.csv"),
		"--authorization-mode", "RBAC", "--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", p("sa.pub"), "--service-account-signing-key-file", p("sa.key"),
		"--service-cluster-ip-range", "10.96.0.0/16", "--endpoint-reconciler-type", "none",
		"--profiling=false"); err != nil {
		return err
	}
	if err := c.waitHTTP(ctx, c.Server+"/readyz", c.Token, KubeAPIServer); err != nil {
		return err
	}
	if err := c.writeKubeconfig(); err != nil {
		return err
	}
	qps, burst := strconv.Itoa(c.opts.ControllerQPS), strconv.Itoa(2*c.opts.ControllerQPS)
	if err := c.run(KubeControllerManager, "--kubeconfig", c.Kubeconfig, "--leader-elect=false",
		"--controllers", "*,-serviceaccount-token", "--service-account-private-key-file", p("sa.key"),
		"--root-ca-file", p("certs/apiserver.crt"), "--secure-port", "0",
		"--kube-api-qps", qps, "--kube-api-burst", burst); err != nil {
		return err
	}
	if err := c.run(KubeScheduler, "--kubeconfig", c.Kubeconfig, "--leader-elect=false",
		"--secure-port", "0", "--kube-api-qps", qps, "--kube-api-burst", burst); err != nil {
		return err
	}
	if err := os.WriteFile(p("kwok.yaml"), []byte(kwokConfig(c.opts.PodReadyDelay)), 0o644); err != nil {
		return err
	}
	if err := c.run(Kwok, "--kubeconfig", c.Kubeconfig, "--config", p("kwok.yaml"),
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector", NodeAnnotation+"=fake",
		"--manage-nodes-with-label-selector=", "--node-lease-duration-seconds=40", "--server-address", "127.0.0.1:"+strconv.Itoa(ports[3])); err != nil {
		return err
	}
	if err := c.writeState(); err != nil {
		return err
	}
	cl, err := c.Client()
	if err != nil {
		return err
	}
	if err := c.AddNodes(ctx, "kwok-node-", c.opts.Nodes); err != nil {
		return err
	}
	return waitDefaultServiceAccount(ctx, cl.Clientset, "default")
}

// run starts one component with the binary of the same name.
func (c *ControlPlane) run(name string, args ...string) error {
	pr, err := startProcess(c.sp, c.opts.Detach, name, filepath.Join(c.BinDir, name), args, filepath.Join(c.Dir, "logs"))
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.procs = append(c.procs, pr)
	c.mu.Unlock()
	return nil
}

// RESTConfig returns a copy of the admin client configuration.
func (c *ControlPlane) RESTConfig() *rest.Config { return rest.CopyConfig(c.cfg) }

// Client returns admin clients with Faultline's rate limits.
func (c *ControlPlane) Client() (*kube.Client, error) {
	return kube.NewClient(kube.Target{Kubeconfig: c.Kubeconfig})
}

// Stop stops every component it started, in reverse order, by process group:
// SIGTERM, then SIGKILL after 5 s. It removes a temporary Dir. Idempotent; safe to
// call concurrently and from cleanups after failures.
func (c *ControlPlane) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return c.stopErr
	}
	c.stopped = true
	var errs []error
	for i := len(c.procs) - 1; i >= 0; i-- {
		if err := c.procs[i].stop(ctx, 5*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	if c.sp != nil {
		c.sp.close()
	}
	if c.tempDir && len(errs) == 0 {
		if err := os.RemoveAll(c.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	c.stopErr = errors.Join(errs...)
	return c.stopErr
}

// PIDs returns the process IDs of the running components by name.
func (c *ControlPlane) PIDs() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[string]int{}
	for _, p := range c.procs {
		m[p.name] = p.pid
	}
	return m
}

// writeSecrets writes the admin token file and the ServiceAccount signing key.
func (c *ControlPlane) writeSecrets() error {
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return err
	}
	c.Token = hex.EncodeToString(tok)
	if err := os.WriteFile(filepath.Join(c.Dir, "tokens.csv"), []byte(c.Token+",admin,admin,system:masters\n"), 0o600); err != nil {
		return err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "sa.key"),
		pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.Dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644)
}

// writeKubeconfig writes an admin kubeconfig trusting the apiserver's
// self-signed certificate bundle (written by the apiserver into certs/).
func (c *ControlPlane) writeKubeconfig() error {
	ca, err := os.ReadFile(filepath.Join(c.Dir, "certs", "apiserver.crt"))
	if err != nil {
		return fmt.Errorf("reading the apiserver certificate: %w", err)
	}
	kc := kubeconfig(c.Server, c.Token, ca)
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, c.Kubeconfig); err != nil {
		return fmt.Errorf("writing kubeconfig: %w", err)
	}
	if c.cfg, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig); err != nil {
		return fmt.Errorf("reading kubeconfig: %w", err)
	}
	return nil
}

// waitHTTP polls url until it answers 200, failing early when the component exits.
func (c *ControlPlane) waitHTTP(ctx context.Context, url, token, component string) error {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // readiness only; clients verify the CA
	}}
	defer hc.CloseIdleConnections()
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if err := c.checkAlive(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s (last: %s): %w\n%s", component, url, last, ctx.Err(), c.logTail(component))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// checkAlive returns an error, with the log tail, if a component has exited.
func (c *ControlPlane) checkAlive() error {
	c.mu.Lock()
	procs := append([]*process(nil), c.procs...)
	c.mu.Unlock()
	for _, p := range procs {
		if gone, err := p.exited(); gone {
			return fmt.Errorf("%s exited early (%v); log %s:\n%s", p.name, err, p.log, c.logTail(p.name))
		}
	}
	return nil
}

func (c *ControlPlane) logTail(component string) string {
	b, _ := os.ReadFile(filepath.Join(c.Dir, "logs", component+".log"))
	return buildcache.Tail(string(b), 20)
}

// freePorts reserves n distinct free TCP ports on 127.0.0.1 (released on return).
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("reserving a port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
