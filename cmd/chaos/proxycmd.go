package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/faultline-dev/faultline/injectors/proxy"
)

type proxyFlags struct {
	listen, config, tokenFile, tlsCert, tlsKey string
	insecureNoAuth                             bool
	allow                                      []string
}

func newProxyCmd() *cobra.Command {
	var f proxyFlags
	cmd := &cobra.Command{
		Use:   "proxy",
		Short: "Serve fault proxies with a Toxiproxy-compatible HTTP API",
		Long: `Proxy serves TCP fault proxies and an HTTP API compatible with Toxiproxy's v2 API
(/proxies, /proxies/{name}, /proxies/{name}/toxics, /reset, /populate, /version; the
same JSON shapes and toxic type names), so existing Toxiproxy clients, toxiproxy-cli
and scripts work unchanged. Experiments use a running one with
spec.proxies: [{name: payments, api: "127.0.0.1:8474"}].

Whoever reaches the API can cut, slow or redirect every proxied connection, so:
  - With a token (--token-file FILE, or $FAULTLINE_PROXY_TOKEN_FILE naming a file, or
    $FAULTLINE_PROXY_TOKEN; never a flag value), every request needs HTTP Basic
    credentials: user "faultline", the token as password. Clients put them in the
    URL: http://faultline:TOKEN@host:8474 (toxiproxy-cli: --host or $TOXIPROXY_URL).
    Experiments and chaos recover send them from the same variables.
  - Listening on anything but loopback needs a token, or --insecure-no-auth.
  - --tls-cert and --tls-key serve the API over HTTPS.
  - --allow-upstream limits where proxies may connect: host:port (globs, port *),
    a CIDR, or CIDR:port; repeat it or separate entries with commas.

--config takes a Toxiproxy-style JSON file: [{"name","listen","upstream","enabled"}].`,
		Example: `  chaos proxy
  chaos proxy --listen 127.0.0.1:8474 --config proxies.json
  FAULTLINE_PROXY_TOKEN_FILE=/etc/faultline/token chaos proxy --listen 0.0.0.0:8474 \
      --tls-cert api.crt --tls-key api.key --allow-upstream '10.0.3.0/24:5432,payments.shop.svc:8080'
  toxiproxy-cli --host "http://faultline:$(cat token)@10.0.0.5:8474" list`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serveProxy(ctx, f, cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", proxy.DefaultAPIAddr, "address of the HTTP API")
	fl.StringVar(&f.config, "config", "", "JSON file of proxies to create at start")
	fl.StringVar(&f.tokenFile, "token-file", "", "file whose first line is the API token (default: $"+proxy.EnvTokenFile+", $"+proxy.EnvToken+")")
	fl.BoolVar(&f.insecureNoAuth, "insecure-no-auth", false, "serve the API on a non-loopback address without authentication")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate (chain) to serve the API over HTTPS")
	fl.StringVar(&f.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	fl.StringSliceVar(&f.allow, "allow-upstream", nil, "allowed upstreams: host:port (globs, port *), CIDR or CIDR:port; repeatable")
	return cmd
}

// serveProxy checks everything before it listens: bad flags, files or a refused
// configuration exit 2 with nothing started.
func serveProxy(ctx context.Context, f proxyFlags, stderr io.Writer) error {
	usage := func(format string, a ...any) error { return &exitError{code: 2, msg: fmt.Sprintf(format, a...)} }
	logf := func(format string, a ...any) {
		fmt.Fprintf(stderr, "%s chaos proxy: %s\n", time.Now().UTC().Format(time.RFC3339), fmt.Sprintf(format, a...))
	}
	creds, err := proxy.LoadCredentials(f.tokenFile)
	if err != nil {
		return usage("proxy: %v", err)
	}
	if creds != nil {
		if err := proxy.CheckServerToken(creds.Token); err != nil {
			return usage("proxy: token from %s: %v", creds.Source, err)
		}
		if f.insecureNoAuth {
			return usage("proxy: --insecure-no-auth with a token (from %s): choose one", creds.Source)
		}
		warnReadable(creds, logf)
	}
	var tlsCfg *tls.Config
	switch {
	case (f.tlsCert == "") != (f.tlsKey == ""):
		return usage("proxy: --tls-cert and --tls-key go together")
	case f.tlsCert != "":
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return usage("proxy: loading --tls-cert/--tls-key: %v", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	opts := proxy.Options{Credentials: creds, Logf: logf}
	if len(f.allow) > 0 {
		if opts.Upstreams, err = proxy.ParseAllowList(f.allow); err != nil {
			return usage("proxy: --allow-upstream: %v", err)
		}
	}
	loopback := isLoopback(ctx, f.listen)
	if !loopback && creds == nil && !f.insecureNoAuth {
		return usage("proxy: refusing to serve the API on %s without authentication: whoever reaches it can cut, slow or "+
			"redirect every proxied connection and make the proxy connect anywhere. Give a token (--token-file FILE, "+
			"$%s or $%s; clients use http://%s:TOKEN@host:port), or --insecure-no-auth on a network you trust",
			f.listen, proxy.EnvTokenFile, proxy.EnvToken, proxy.DefaultUser)
	}
	srv := proxy.NewServerWith(opts)
	if f.config != "" {
		if err := populate(srv, f.config); err != nil {
			_ = srv.Close()
			return usage("%v", err)
		}
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("proxy api: %w", err)
	}
	scheme := "http"
	if tlsCfg != nil {
		scheme, ln = "https", tls.NewListener(ln, tlsCfg)
	}
	auth := "no authentication"
	if creds != nil {
		auth = "credentials required (" + creds.String() + ")"
		if tlsCfg == nil && !loopback {
			logf("warning: the token crosses the network in clear text; add --tls-cert and --tls-key")
		}
	}
	up := "any upstream"
	if opts.Upstreams != nil {
		up = "upstreams allowed: " + opts.Upstreams.String()
	}
	logf("API on %s://%s (%d proxies; %s; %s)", scheme, ln.Addr(), len(srv.Proxies()), auth, up)
	return srv.Serve(ctx, ln)
}

func populate(srv *proxy.Server, path string) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	if _, err := srv.PopulateJSON(fh); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// isLoopback reports whether every address the API would listen on is loopback:
// an empty host (all interfaces) is not; a name counts only if all it resolves to is.
func isLoopback(ctx context.Context, listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil || host == "" {
		return false
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !ip.IP.IsLoopback() {
			return false
		}
	}
	return true
}

// warnReadable warns when the token file can be read by others than its owner.
func warnReadable(c *proxy.Credentials, logf func(string, ...any)) {
	if c.File == "" {
		return
	}
	if st, err := os.Stat(c.File); err == nil && st.Mode().Perm()&0o077 != 0 {
		logf("warning: token file %s is readable by others (mode %v): chmod 600 it", c.File, st.Mode().Perm())
	}
}
