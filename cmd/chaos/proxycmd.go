package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/faultline-dev/faultline/injectors/proxy"
)

func newProxyCmd() *cobra.Command {
	var listen, config string
	cmd := &cobra.Command{
		Use:   "proxy",
		Short: "Serve fault proxies with a Toxiproxy-compatible HTTP API",
		Long: `Proxy serves TCP fault proxies and an HTTP API compatible with Toxiproxy's v2 API
(/proxies, /proxies/{name}, /proxies/{name}/toxics, /reset, /populate, /version; the
same JSON shapes and toxic type names), so existing Toxiproxy clients, toxiproxy-cli
and scripts work unchanged. Experiments use a running one with
spec.proxies: [{name: payments, api: "127.0.0.1:8474"}].

The API has no authentication: whoever reaches it can cut, slow or redirect every
proxied connection and make the proxy connect anywhere it can reach. It listens on
loopback by default; bind it elsewhere only on a network you trust.

--config takes a Toxiproxy-style JSON file: [{"name","listen","upstream","enabled"}].`,
		Example: `  chaos proxy
  chaos proxy --listen 127.0.0.1:8474 --config proxies.json
  toxiproxy-cli create -l 127.0.0.1:9001 -u 127.0.0.1:9002 payments`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			srv := proxy.NewServer()
			if config != "" {
				f, err := os.Open(config)
				if err != nil {
					return &exitError{code: 2, msg: err.Error()}
				}
				_, err = srv.PopulateJSON(f)
				f.Close()
				if err != nil {
					_ = srv.Close()
					return &exitError{code: 2, msg: fmt.Sprintf("%s: %v", config, err)}
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			fmt.Fprintf(cmd.ErrOrStderr(), "chaos proxy: API on http://%s (%d proxies)\n", listen, len(srv.Proxies()))
			return srv.ListenAndServe(ctx, listen)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", proxy.DefaultAPIAddr, "address of the HTTP API")
	cmd.Flags().StringVar(&config, "config", "", "JSON file of proxies to create at start")
	return cmd
}
