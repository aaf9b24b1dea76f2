// Package kube builds Kubernetes clients for Faultline from spec.target.kubernetes,
// following kubectl's kubeconfig rules, with rate limits sized for chaos at scale.
// It is shared by the Kubernetes injectors and probes.
package kube

import (
	"fmt"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Default client rate limits. client-go's defaults (QPS 5, burst 10) make a 6,000-pod
// selection take many minutes; chaos needs to act on a whole selection at once.
const (
	DefaultQPS   = 200
	DefaultBurst = 400
)

// Target is spec.target.kubernetes.
type Target struct {
	// Kubeconfig is a kubeconfig path; empty: $KUBECONFIG, then ~/.kube/config.
	Kubeconfig string `yaml:"kubeconfig,omitempty" json:"kubeconfig,omitempty"`
	// Context is the kubeconfig context; empty: the current one.
	Context string `yaml:"context,omitempty" json:"context,omitempty"`
	// InCluster uses the pod's ServiceAccount.
	InCluster bool `yaml:"inCluster,omitempty" json:"inCluster,omitempty"`
	// QPS and Burst of the client; 0: DefaultQPS / DefaultBurst.
	QPS   float32 `yaml:"qps,omitempty" json:"qps,omitempty"`
	Burst int     `yaml:"burst,omitempty" json:"burst,omitempty"`
}

// Client bundles the clients of one target.
type Client struct {
	Config    *rest.Config
	Clientset kubernetes.Interface
	Dynamic   dynamic.Interface
}

// RESTConfig resolves the target into a rest.Config. Command-line overrides
// (--kubeconfig, --context) are applied by the caller onto the Target first.
func (t Target) RESTConfig() (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if t.InCluster {
		cfg, err = rest.InClusterConfig()
	} else {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		if t.Kubeconfig != "" {
			rules.ExplicitPath = t.Kubeconfig
		}
		overrides := &clientcmd.ConfigOverrides{CurrentContext: t.Context}
		cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes target: %w", err)
	}
	cfg.QPS, cfg.Burst = t.QPS, t.Burst
	if cfg.QPS == 0 {
		cfg.QPS = DefaultQPS
	}
	if cfg.Burst == 0 {
		cfg.Burst = DefaultBurst
	}
	cfg.UserAgent = "faultline"
	return cfg, nil
}

// NewClient builds the clients for t.
func NewClient(t Target) (*Client, error) {
	cfg, err := t.RESTConfig()
	if err != nil {
		return nil, err
	}
	return NewClientForConfig(cfg)
}

// NewClientForConfig builds the clients for an existing rest.Config.
func NewClientForConfig(cfg *rest.Config) (*Client, error) {
	// The typed clients speak protobuf: at chaos scale (hundreds of deletes and
	// lists at once) it costs the API server and us much less CPU than JSON. The
	// dynamic client below needs JSON and keeps cfg as it is.
	pcfg := rest.CopyConfig(cfg)
	if pcfg.ContentType == "" {
		pcfg.ContentType = "application/vnd.kubernetes.protobuf"
		pcfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	}
	cs, err := kubernetes.NewForConfig(pcfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes dynamic client: %w", err)
	}
	return &Client{Config: cfg, Clientset: cs, Dynamic: dyn}, nil
}
