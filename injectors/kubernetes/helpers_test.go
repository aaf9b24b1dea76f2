package kubernetes_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes"

	"github.com/faultline-dev/faultline/injectors"
	k8sfaults "github.com/faultline-dev/faultline/injectors/kubernetes"
	"github.com/faultline-dev/faultline/internal/kube"
	"github.com/faultline-dev/faultline/steadystate"
)

// memJournal keeps every recorded state in memory.
type memJournal struct {
	mu     sync.Mutex
	states []json.RawMessage
}

func (j *memJournal) Record(state any) error {
	b, err := json.Marshal(state)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.states = append(j.states, b)
	return nil
}

func (j *memJournal) len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.states)
}

func (j *memJournal) last() json.RawMessage {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.states) == 0 {
		return nil
	}
	return j.states[len(j.states)-1]
}

// fileJournal writes the state to one file and fsyncs it, as the runner does.
type fileJournal struct{ path string }

func (j fileJournal) Record(state any) error {
	b, err := json.Marshal(state)
	if err != nil {
		return err
	}
	tmp := j.path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, j.path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(j.path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// sampler runs a probe every interval until stopped, like the runner does.
type sampler struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	obs    []steadystate.Observation
}

func startSampler(p steadystate.Probe, every time.Duration) *sampler {
	ctx, cancel := context.WithCancel(context.Background())
	s := &sampler{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			o := p.Probe(ctx)
			if ctx.Err() != nil {
				return
			}
			s.mu.Lock()
			s.obs = append(s.obs, o)
			s.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// stop ends sampling and returns the series.
func (s *sampler) stop() []steadystate.Observation {
	s.cancel()
	<-s.done
	return s.snapshot()
}

func (s *sampler) snapshot() []steadystate.Observation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]steadystate.Observation(nil), s.obs...)
}

// newEnv is an injector Env for client c.
func newEnv(c *kube.Client, runID string, br injectors.BlastRadius) *injectors.Env {
	return &injectors.Env{
		RunID: runID, Experiment: "e2e", BlastRadius: br,
		Logf: logf,
		Kube: func() (*kube.Client, error) { return c, nil },
	}
}

func probeEnv(c *kube.Client) *steadystate.Env {
	return &steadystate.Env{RunID: "e2e", Logf: logf, Kube: func() (*kube.Client, error) { return c, nil }}
}

// newInjector builds a registered fault from a spec filler, validating it as the
// decoder does.
func newInjector(key string, env *injectors.Env, fill func(spec any)) injectors.Injector {
	r := injectors.NewRegistry()
	ExpectWithOffset(1, k8sfaults.Register(r)).To(Succeed())
	def, ok := r.Lookup(key)
	ExpectWithOffset(1, ok).To(BeTrue(), key)
	spec := def.NewSpec()
	fill(spec)
	if v, ok := spec.(injectors.Validator); ok {
		ExpectWithOffset(1, v.Validate(field.NewPath("spec", "faults").Index(0).Child(key))).To(BeEmpty())
	}
	inj, err := def.New(spec, env)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return inj
}

func definition(key string) injectors.Definition {
	r := injectors.NewRegistry()
	ExpectWithOffset(1, k8sfaults.Register(r)).To(Succeed())
	def, ok := r.Lookup(key)
	ExpectWithOffset(1, ok).To(BeTrue())
	return def
}

// createDeployment creates a Deployment of replicas pods labelled app=name.
func createDeployment(ctx context.Context, cs kubernetes.Interface, ns, name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers:                    []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}},
					TerminationGracePeriodSeconds: ptr[int64](1),
				},
			},
		},
	}
	out, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return out
}

// podUIDs returns the UIDs of the pods matching selector that are not terminating.
func podUIDs(ctx context.Context, cs kubernetes.Interface, ns, selector string) map[types.UID]string {
	list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	out := map[types.UID]string{}
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out[p.UID] = p.Name
		}
	}
	return out
}

// eventuallyStatus polls probe until it reports want, returning that observation.
func eventuallyStatus(ctx context.Context, p steadystate.Probe, want steadystate.Status, timeout time.Duration) steadystate.Observation {
	var last steadystate.Observation
	EventuallyWithOffset(1, ctx, func() steadystate.Status {
		last = p.Probe(ctx)
		return last.Status
	}).WithTimeout(timeout).WithPolling(50*time.Millisecond).Should(Equal(want), func() string {
		return fmt.Sprintf("last observation: %s %s %v", last.Status, last.Detail, last.Values)
	})
	return last
}

func ptr[T any](v T) *T { return &v }
