package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/faultline-dev/faultline/internal/kube"
)

// Defaults of Options.
const (
	DefaultNamespace     = "chaos"
	DefaultLeaseDuration = 10 * time.Second
	DefaultHistoryLimit  = 20
	// MaxReportBytes bounds status.report; a larger report is replaced by its summary.
	MaxReportBytes = 256 << 10
)

// Labels on ExperimentRuns and Leases.
const (
	LabelExperiment = "faultline.dev/experiment"
	LabelRunID      = "faultline.dev/run-id"
)

// ErrNotInstalled is returned when the ExperimentRun CRD is not served by the cluster.
var ErrNotInstalled = errors.New("cluster: the ExperimentRun CRD (deploy/crds) is not installed")

// Options configure a Recorder and the commands that read the cluster.
type Options struct {
	// Namespace holds ExperimentRuns, Leases and the halt switch; "": ResolveNamespace("").
	Namespace string
	// LeaseDuration: a run whose Lease was not renewed for this long is dead (default 10s).
	LeaseDuration time.Duration
	// HistoryLimit: finished runs of one experiment kept (default 20; older are pruned).
	HistoryLimit int
}

func (o Options) withDefaults() Options {
	o.Namespace = ResolveNamespace(o.Namespace)
	if o.LeaseDuration <= 0 {
		o.LeaseDuration = DefaultLeaseDuration
	}
	if o.HistoryLimit <= 0 {
		o.HistoryLimit = DefaultHistoryLimit
	}
	return o
}

// ResolveNamespace returns ns, else $FAULTLINE_NAMESPACE, else the namespace of the
// pod's ServiceAccount (in a cluster), else DefaultNamespace.
func ResolveNamespace(ns string) string {
	if ns != "" {
		return ns
	}
	if ns = os.Getenv("FAULTLINE_NAMESPACE"); ns != "" {
		return ns
	}
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil && len(b) > 0 {
		return strings.TrimSpace(string(b))
	}
	return DefaultNamespace
}

// Installed reports whether the cluster serves ExperimentRuns.
func Installed(c *kube.Client) (bool, error) {
	list, err := c.Clientset.Discovery().ServerResourcesForGroupVersion(GroupVersion.String())
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cluster: discovering %s: %w", GroupVersion, err)
	}
	for _, r := range list.APIResources {
		if r.Name == Resource.Resource {
			return true, nil
		}
	}
	return false, nil
}

// RunInfo names a run when its Recorder starts.
type RunInfo struct {
	Experiment, RunID, Source string
	Started                   time.Time
}

// Recorder keeps one run's ExperimentRun and Lease up to date. Its methods are safe
// for concurrent use; Finish (or Abandon) must be called once at the end.
type Recorder struct {
	c    *kube.Client
	opts Options
	mu   sync.Mutex
	obj  *ExperimentRun
	stop context.CancelFunc
	wg   sync.WaitGroup
	errs []string
}

// Start creates the run's ExperimentRun (phase Running) and its Lease, and renews the
// Lease until Finish.
func Start(ctx context.Context, c *kube.Client, info RunInfo, opts Options) (*Recorder, error) {
	opts = opts.withDefaults()
	runner, _ := os.Hostname()
	runner = fmt.Sprintf("%s pid %d", runner, os.Getpid())
	name := ObjectName(info.Experiment, info.RunID)
	now := metav1.NewTime(info.Started)
	obj := &ExperimentRun{
		TypeMeta: metav1.TypeMeta{APIVersion: GroupVersion.String(), Kind: "ExperimentRun"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: opts.Namespace,
			Labels: map[string]string{LabelExperiment: labelValue(info.Experiment), LabelRunID: labelValue(info.RunID)}},
		Spec:   ExperimentRunSpec{Experiment: info.Experiment, RunID: info.RunID, Source: info.Source, Runner: runner, Lease: "faultline-run-" + info.RunID},
		Status: ExperimentRunStatus{Phase: PhaseRunning, Step: "plan", StartTime: &now},
	}
	r := &Recorder{c: c, opts: opts}
	created, err := r.write(ctx, obj, true)
	if err != nil {
		return nil, err
	}
	r.obj = created
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: obj.Spec.Lease, Namespace: opts.Namespace, Labels: obj.Labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: GroupVersion.String(), Kind: "ExperimentRun", Name: name, UID: created.UID}}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &runner, LeaseDurationSeconds: ptr.To(int32((opts.LeaseDuration + time.Second - 1) / time.Second)),
			AcquireTime: &metav1.MicroTime{Time: time.Now()}, RenewTime: &metav1.MicroTime{Time: time.Now()}},
	}
	if _, err := c.Clientset.CoordinationV1().Leases(opts.Namespace).Create(ctx, lease, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("cluster: creating lease %s/%s: %w", opts.Namespace, lease.Name, err)
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.stop = cancel
	r.wg.Add(1)
	go func() { defer r.wg.Done(); r.renew(rctx, lease.Name) }()
	return r, nil
}

// Name is the ExperimentRun's name.
func (r *Recorder) Name() string { return r.obj.Name }

// Namespace is where the run is recorded.
func (r *Recorder) Namespace() string { return r.opts.Namespace }

// renew renews the Lease every third of its duration until ctx is cancelled.
func (r *Recorder) renew(ctx context.Context, name string) {
	t := time.NewTicker(r.opts.LeaseDuration / 3)
	defer t.Stop()
	leases := r.c.Clientset.CoordinationV1().Leases(r.opts.Namespace)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		patch := fmt.Sprintf(`{"spec":{"renewTime":%q}}`, metav1.NowMicro().UTC().Format(metav1.RFC3339Micro))
		if _, err := leases.Patch(ctx, name, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil && ctx.Err() == nil {
			r.mu.Lock()
			r.errs = append(r.errs, "renewing lease: "+err.Error())
			r.mu.Unlock()
		}
	}
}

// Step records the lifecycle step the run is in. Errors are kept for Finish.
func (r *Recorder) Step(ctx context.Context, step string) {
	if err := r.update(ctx, func(o *ExperimentRun) { o.Status.Step = step }); err != nil {
		r.mu.Lock()
		r.errs = append(r.errs, err.Error())
		r.mu.Unlock()
	}
}

// Journal appends one journal line; it returns when the API server has stored it.
func (r *Recorder) Journal(ctx context.Context, line []byte) error {
	return r.update(ctx, func(o *ExperimentRun) { o.Status.Journal = append(o.Status.Journal, string(line)) })
}

// Result is what Finish records.
type Result struct {
	Verdict, Reason string
	Ended           time.Time
	Score           *int
	Checks          []Check
	Errors          []string
	Notifications   []string
	ReportPath      string
	// Report is report.json; Summary is used instead when Report exceeds MaxReportBytes.
	Report, Summary []byte
	// Reverted: no fault is left active (the Lease is then released).
	Reverted bool
}

// Finish records the verdict, stops renewing and deletes the Lease (when everything was
// reverted), and prunes runs of the same experiment beyond the history limit.
func (r *Recorder) Finish(ctx context.Context, res Result) error {
	r.stop()
	r.wg.Wait()
	r.mu.Lock()
	errs := append([]string(nil), r.errs...)
	r.mu.Unlock()
	err := r.update(ctx, func(o *ExperimentRun) {
		o.Status.Phase = PhaseFinished
		o.Status.Step = "done"
		o.Status.Verdict, o.Status.Reason = res.Verdict, res.Reason
		end := metav1.NewTime(res.Ended)
		o.Status.EndTime = &end
		if o.Status.StartTime != nil {
			o.Status.Duration = roundDuration(res.Ended.Sub(o.Status.StartTime.Time)).String()
		}
		if res.Score != nil {
			o.Status.Score = ptr.To(int32(*res.Score))
		}
		o.Status.Checks = res.Checks
		o.Status.Errors = append(res.Errors, errs...)
		o.Status.Notifications = res.Notifications
		o.Status.ReportPath = res.ReportPath
		o.Status.Report, o.Status.ReportTruncated = string(res.Report), false
		if len(res.Report) > MaxReportBytes {
			o.Status.Report, o.Status.ReportTruncated = string(res.Summary), true
		}
	})
	if res.Reverted {
		lerr := r.c.Clientset.CoordinationV1().Leases(r.opts.Namespace).Delete(ctx, r.obj.Spec.Lease, metav1.DeleteOptions{})
		if lerr != nil && !apierrors.IsNotFound(lerr) {
			err = errors.Join(err, fmt.Errorf("cluster: deleting lease: %w", lerr))
		}
	}
	return errors.Join(err, Prune(ctx, r.c, r.opts, r.obj.Spec.Experiment))
}

// SetNotifications records what the notification webhooks answered.
func (r *Recorder) SetNotifications(ctx context.Context, lines []string, reportPath string) error {
	return r.update(ctx, func(o *ExperimentRun) {
		o.Status.Notifications = lines
		if reportPath != "" {
			o.Status.ReportPath = reportPath
		}
	})
}

// update applies change to the run's object and writes it; a conflict (someone else
// wrote it) is retried on a fresh copy.
func (r *Recorder) update(ctx context.Context, change func(*ExperimentRun)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for attempt := 0; ; attempt++ {
		next := r.obj.DeepCopy()
		change(next)
		got, err := r.write(ctx, next, false)
		if err == nil {
			r.obj = got
			return nil
		}
		if !apierrors.IsConflict(err) || attempt >= 3 {
			return err
		}
		fresh, gerr := Get(ctx, r.c, r.opts.Namespace, r.obj.Name)
		if gerr != nil {
			return err
		}
		r.obj = fresh
	}
}

func (r *Recorder) write(ctx context.Context, obj *ExperimentRun, create bool) (*ExperimentRun, error) {
	return writeRun(ctx, r.c, obj, create)
}

func writeRun(ctx context.Context, c *kube.Client, obj *ExperimentRun, create bool) (*ExperimentRun, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("cluster: encoding ExperimentRun: %w", err)
	}
	u := &unstructured.Unstructured{Object: m}
	res := c.Dynamic.Resource(Resource).Namespace(obj.Namespace)
	var out *unstructured.Unstructured
	if create {
		out, err = res.Create(ctx, u, metav1.CreateOptions{})
	} else {
		out, err = res.Update(ctx, u, metav1.UpdateOptions{})
	}
	if err != nil {
		verb := "updating"
		if create {
			verb = "creating"
		}
		return nil, fmt.Errorf("cluster: %s ExperimentRun %s/%s: %w", verb, obj.Namespace, obj.Name, err)
	}
	return fromUnstructured(out)
}

func fromUnstructured(u *unstructured.Unstructured) (*ExperimentRun, error) {
	var o ExperimentRun
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &o); err != nil {
		return nil, fmt.Errorf("cluster: decoding ExperimentRun %s: %w", u.GetName(), err)
	}
	return &o, nil
}

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// ObjectName is the ExperimentRun name of a run: <experiment>-<runID>, DNS-1123.
func ObjectName(experiment, runID string) string {
	s := notDNS.ReplaceAllString(strings.ToLower(experiment), "-")
	id := notDNS.ReplaceAllString(strings.ToLower(runID), "-")
	if max := 253 - len(id) - 1; len(s) > max {
		s = s[:max]
	}
	return strings.Trim(s, "-") + "-" + id
}

// labelValue fits s into a label value (63 characters, alphanumeric at both ends).
func labelValue(s string) string {
	s = regexp.MustCompile(`[^A-Za-z0-9._-]+`).ReplaceAllString(s, "-")
	if len(s) > 63 {
		s = s[:63]
	}
	return strings.Trim(s, "-._")
}

func roundDuration(d time.Duration) time.Duration {
	if d > time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(10 * time.Millisecond)
}
