package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

	"github.com/faultline-dev/faultline/internal/testenv/netns"
)

// TestProxyRefusesUnprotectedNonLoopback: `chaos proxy` on anything but loopback
// without a token exits 2 and says why and how; contradictory or weak settings exit
// 2 too; --insecure-no-auth is the explicit way out.
func TestProxyRefusesUnprotectedNonLoopback(t *testing.T) {
	env := cleanEnv()
	for _, listen := range []string{"0.0.0.0:0", ":0", "[::]:0", "10.255.255.1:0"} {
		code, out := runChaos(t, env, "proxy", "--listen", listen)
		if code != 2 || !strings.Contains(out, "refusing to serve the API on "+listen+" without authentication") ||
			!strings.Contains(out, "FAULTLINE_PROXY_TOKEN_FILE") || !strings.Contains(out, "--insecure-no-auth") {
			t.Errorf("--listen %s without a token: exit %d\n%s", listen, code, out)
		}
	}
	tokenFile := writeSecret(t, proxyToken)
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{cleanEnv("FAULTLINE_PROXY_TOKEN=short"), []string{"--listen", "0.0.0.0:0"}, "at least 16 characters"},
		{cleanEnv("FAULTLINE_PROXY_TOKEN=" + proxyToken), []string{"--insecure-no-auth"}, "choose one"},
		{cleanEnv("FAULTLINE_PROXY_TOKEN="+proxyToken, "FAULTLINE_PROXY_TOKEN_FILE="+tokenFile), nil, "set only one"},
		{env, []string{"--token-file", filepath.Join(t.TempDir(), "missing")}, "no such file"},
		{env, []string{"--token-file", t.TempDir()}, "not a regular file"},
		{env, []string{"--tls-cert", tokenFile}, "--tls-cert and --tls-key go together"},
		{env, []string{"--tls-cert", tokenFile, "--tls-key", tokenFile}, "loading --tls-cert/--tls-key"},
		{env, []string{"--allow-upstream", "10.0.0.0/8,nope"}, `allowed upstream "nope"`},
	} {
		code, out := runChaos(t, tc.env, append([]string{"proxy", "--listen", "127.0.0.1:0"}, tc.args...)...)
		if code != 2 || !strings.Contains(out, tc.want) || strings.Contains(out, proxyToken) {
			t.Errorf("%v: exit %d, want 2 with %q (and never the token)\n%s", tc.args, code, tc.want, out)
		}
	}
	api, out := startChaosProxy(t, env, nil, "--listen", "0.0.0.0:0", "--insecure-no-auth")
	_, port, _ := net.SplitHostPort(api)
	resp, err := http.Get("http://127.0.0.1:" + port + "/version")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("--insecure-no-auth on 0.0.0.0: %v %v\n%s", resp, err, out)
	}
	resp.Body.Close()
}

// TestProxyAuthOnVethAddress serves the API on a veth address inside a network
// namespace (not loopback): without a token it refuses to start; with one, requests
// without or with wrong credentials get 401 (logged), the official Go client and
// toxiproxy-cli work with the credentials in the URL, traffic really crosses the
// namespaces through a proxy made that way, and an upstream outside
// --allow-upstream is refused. Needs root.
func TestProxyAuthOnVethAddress(t *testing.T) {
	netns.RequireRoot(t)
	id := randHex(3)
	r := make([]byte, 2)
	_, _ = rand.Read(r)
	sub := r[1] &^ 3 // a random /30 in 10.214.0.0/16: other tests' namespaces use other ranges
	hostIP, nsIP := net.IPv4(10, 214, r[0], sub+1), net.IPv4(10, 214, r[0], sub+2)
	host, inner := netns.NewNamed(t, "flpa-"+id, "flpa"+id, hostIP, nsIP)
	inNS := []string{"ip", "netns", "exec", inner.Name}
	listen := net.JoinHostPort(inner.IP.String(), "0")

	code, out := func() (int, string) {
		cmd := append(append([]string{}, inNS[1:]...), chaosBin, "proxy", "--listen", listen)
		return runCmd(t, cleanEnv(), "ip", cmd...)
	}()
	if code != 2 || !strings.Contains(out, "refusing to serve the API on "+listen+" without authentication") {
		t.Fatalf("on %s without a token: exit %d\n%s", listen, code, out)
	}

	echo := tcpEcho(t, net.JoinHostPort(host.IP.String(), "0"))
	api, log := startChaosProxy(t, cleanEnv("FAULTLINE_PROXY_TOKEN_FILE="+writeSecret(t, proxyToken)), inNS,
		"--listen", listen, "--allow-upstream", host.IP.String()+"/32")
	if !strings.HasPrefix(api, nsIP.String()+":") {
		t.Fatalf("API on %s, want the veth address %s", api, nsIP)
	}
	for _, auth := range []func(*http.Request){nil, func(r *http.Request) { r.SetBasicAuth("faultline", "wrong-token-0123456789") }} {
		req, _ := http.NewRequest("GET", "http://"+api+"/proxies", nil)
		if auth != nil {
			auth(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("credentials %v: %d %s, want 401", auth != nil, resp.StatusCode, body)
		}
	}

	cl := toxiclient.NewClient("http://faultline:" + proxyToken + "@" + api)
	px, err := cl.CreateProxy("payments", net.JoinHostPort(nsIP.String(), "0"), echo)
	if err != nil {
		t.Fatalf("Go client with credentials in the URL: %v\n%s", err, log)
	}
	if _, err := echoRTT(px.Listen); err != nil {
		t.Fatalf("through the proxy in the namespace: %v", err)
	}
	_, err = cl.CreateProxy("tunnel", net.JoinHostPort(nsIP.String(), "0"), "127.0.0.1:22")
	var ae *toxiclient.ApiError
	if !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
		t.Fatalf("an upstream outside --allow-upstream: %v, want 403", err)
	}

	cliEnv := cleanEnv()
	withCreds := "http://faultline:" + proxyToken + "@" + api
	if code, out := toxiCLI(t, cliEnv, "--host", withCreds, "toxic", "add", "-t", "latency", "-a", "latency=150", "payments"); code != 0 {
		t.Fatalf("toxiproxy-cli toxic add: exit %d\n%s", code, out)
	}
	if d, err := echoRTT(px.Listen); err != nil || d < 150*time.Millisecond {
		t.Fatalf("after toxiproxy-cli added 150ms latency: %v %v", d, err)
	}
	if code, out := toxiCLI(t, append(cliEnv, "TOXIPROXY_URL="+withCreds), "list"); code != 0 || !strings.Contains(out, "payments") {
		t.Fatalf("toxiproxy-cli list with $TOXIPROXY_URL: exit %d\n%s", code, out)
	}
	if code, out := toxiCLI(t, cliEnv, "--host", "http://"+api, "list"); code == 0 || !strings.Contains(out, "unauthorized") {
		t.Fatalf("toxiproxy-cli without credentials: exit %d\n%s", code, out)
	}
	logged := log.String()
	if !strings.Contains(logged, "refused GET \"/proxies\"") || !strings.Contains(logged, "wrong credentials") ||
		!strings.Contains(logged, "no credentials") || strings.Contains(logged, proxyToken) {
		t.Fatalf("chaos proxy's log must list refused requests, never the token:\n%s", logged)
	}
}

// TestProxyTLSWithToxiproxyCLI: --tls-cert/--tls-key serve the API over HTTPS with
// the token from $FAULTLINE_PROXY_TOKEN; toxiproxy-cli trusts it through
// SSL_CERT_FILE and authenticates through the URL.
func TestProxyTLSWithToxiproxyCLI(t *testing.T) {
	cert, key := selfSigned(t)
	api, out := startChaosProxy(t, cleanEnv("FAULTLINE_PROXY_TOKEN="+proxyToken), nil,
		"--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key)
	if !strings.Contains(out.String(), "API on https://") {
		t.Fatalf("not served over https: %s", out)
	}
	echo := tcpEcho(t, "127.0.0.1:0")
	env := cleanEnv("SSL_CERT_FILE=" + cert)
	host := "https://faultline:" + proxyToken + "@" + api
	listen := freePort(t)
	if code, o := toxiCLI(t, env, "--host", host, "create", "-l", listen, "-u", echo, "svc"); code != 0 {
		t.Fatalf("toxiproxy-cli create over https: exit %d\n%s", code, o)
	}
	if _, err := echoRTT(listen); err != nil {
		t.Fatal(err)
	}
	if code, o := toxiCLI(t, env, "--host", "https://faultline:wrong-token-0123456789@"+api, "list"); code == 0 || !strings.Contains(o, "unauthorized") {
		t.Fatalf("wrong token over https: exit %d\n%s", code, o)
	}
	if code, o := toxiCLI(t, cleanEnv(), "--host", host, "list"); code == 0 || !strings.Contains(o, "certificate") {
		t.Fatalf("an untrusted certificate must fail: exit %d\n%s", code, o)
	}
	resp, err := http.Get("http://" + api + "/version")
	if err == nil && resp.StatusCode == 200 {
		t.Fatal("plain http answered on the TLS port")
	}
	if err == nil {
		resp.Body.Close()
	}
}

// TestExperimentAndRecoverAgainstProtectedProxy: an experiment whose proxy is served
// by a protected `chaos proxy` plans, injects and reverts with the token from
// $FAULTLINE_PROXY_TOKEN_FILE or $FAULTLINE_PROXY_TOKEN; without it the plan stops
// before anything is injected; after kill -9, `chaos recover` removes the toxic with
// the same variable; the YAML, the journal and the reports never hold the token.
func TestExperimentAndRecoverAgainstProtectedProxy(t *testing.T) {
	tokenFile := writeSecret(t, proxyToken)
	api, log := startChaosProxy(t, cleanEnv("FAULTLINE_PROXY_TOKEN_FILE="+tokenFile), nil,
		"--listen", "127.0.0.1:0", "--allow-upstream", "127.0.0.1/32")
	upstream := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })}
	ul, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = upstream.Serve(ul) }()
	t.Cleanup(func() { upstream.Close() })
	cl := toxiclient.NewClient("http://faultline:" + proxyToken + "@" + api)
	px, err := cl.CreateProxy("payments", "127.0.0.1:0", ul.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	toxics := func() []string {
		ts, err := px.Toxics()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tx := range ts {
			names = append(names, tx.Name)
		}
		return names
	}
	experiment := func(duration string) string {
		return writeFile(t, "e.yaml", fmt.Sprintf(`apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: protected-proxy}
spec:
  steadyState:
    baseline: 300ms
    recovery: 3s
    probes:
      - {name: via-proxy, every: 50ms, http: {url: "http://%s/", timeout: 2s}}
  proxies:
    - {name: payments, api: %q}
  faults:
    - {name: slow, latency: {proxy: payments, delay: 100ms}, duration: %s}
`, px.Listen, api, duration))
	}
	noSecret := func(where string, dirs ...string) {
		t.Helper()
		for _, d := range dirs {
			_ = filepath.Walk(d, func(p string, fi os.FileInfo, err error) error {
				if err == nil && fi.Mode().IsRegular() {
					if b, _ := os.ReadFile(p); strings.Contains(string(b), proxyToken) {
						t.Errorf("%s: %s holds the token", where, p)
					}
				}
				return nil
			})
		}
	}

	// Without credentials: refused at plan time, nothing injected.
	journal, reportsDir := t.TempDir(), t.TempDir()
	code, out := runChaos(t, cleanEnv(), "run", "--journal", journal, "--report-dir", reportsDir, "--progress", "plain", experiment("500ms"))
	if code != 3 || !strings.Contains(out, "planning failed, nothing was injected") || !strings.Contains(out, "FAULTLINE_PROXY_TOKEN_FILE") {
		t.Fatalf("run without credentials: exit %d\n%s", code, out)
	}
	if ts := toxics(); len(ts) != 0 {
		t.Fatalf("toxics after a refused plan: %v", ts)
	}

	// With the token in $FAULTLINE_PROXY_TOKEN: a full run passes.
	code, out = runChaos(t, cleanEnv("FAULTLINE_PROXY_TOKEN="+proxyToken), "run", "--journal", journal,
		"--report-dir", reportsDir, "--progress", "plain", experiment("500ms"))
	if code != 0 || !strings.Contains(out, "PASSED") {
		t.Fatalf("run with credentials: exit %d\n%s", code, out)
	}
	if ts := toxics(); len(ts) != 0 {
		t.Fatalf("toxics left after the run: %v", ts)
	}

	// kill -9 while the fault is active, then recover with the token file.
	journal = t.TempDir()
	env := cleanEnv("FAULTLINE_PROXY_TOKEN_FILE=" + tokenFile)
	cmd := execChaos(env, "run", "--journal", journal, "--report-dir", reportsDir, "--progress", "none", experiment("60s"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	waitFor(t, 20*time.Second, func() bool { return len(toxics()) == 1 }, "the latency toxic")
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if ts := toxics(); len(ts) != 1 || !strings.HasPrefix(ts[0], "faultline-") {
		t.Fatalf("after kill -9 the toxic must still be there for recover: %v", ts)
	}
	code, out = runChaos(t, cleanEnv(), "recover", "--journal", journal)
	if code == 0 || !strings.Contains(out, "FAULTLINE_PROXY_TOKEN") || len(toxics()) != 1 {
		t.Fatalf("recover without credentials must fail and say how: exit %d\n%s", code, out)
	}
	code, out = runChaos(t, env, "recover", "--journal", journal)
	if code != 0 || !strings.Contains(out, "slow (latency): reverted") {
		t.Fatalf("recover with credentials: exit %d\n%s", code, out)
	}
	if ts := toxics(); len(ts) != 0 {
		t.Fatalf("toxics after recover: %v", ts)
	}
	noSecret("journal, reports and experiment", journal, reportsDir, filepath.Dir(experiment("1s")))

	// Credentials inline in the YAML are refused at validation, without echoing them.
	bad := writeFile(t, "inline.yaml", strings.Replace(readFile(t, experiment("1s")), "api: \""+api, "api: \"http://faultline:"+proxyToken+"@"+api, 1))
	code, out = runChaos(t, cleanEnv(), "validate", bad)
	if code != 2 || !strings.Contains(out, "spec.proxies[0].api: must not carry credentials") || strings.Contains(out, proxyToken) {
		t.Fatalf("inline credentials: exit %d\n%s", code, out)
	}
	if strings.Contains(log.String(), proxyToken) {
		t.Fatalf("chaos proxy logged the token:\n%s", log)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
