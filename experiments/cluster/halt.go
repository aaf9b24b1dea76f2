package cluster

import (
	"context"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/faultline-dev/faultline/internal/kube"
)

// HaltName is the ConfigMap that is the halt switch: while it exists with
// data.halted "true", every run in its namespace aborts and reverts, and new runs
// end as "halted" without touching anything.
const HaltName = "faultline-halt"

// Halt is the state of the halt switch.
type Halt struct {
	Halted bool
	Reason string
	Since  time.Time
	By     string
}

func haltFrom(cm *corev1.ConfigMap) Halt {
	if cm == nil || cm.Data["halted"] != "true" {
		return Halt{}
	}
	h := Halt{Halted: true, Reason: cm.Data["reason"], By: cm.Data["by"]}
	h.Since, _ = time.Parse(time.RFC3339Nano, cm.Data["since"])
	return h
}

// GetHalt reads the halt switch of ns; a missing switch is "not halted".
func GetHalt(ctx context.Context, c *kube.Client, ns string) (Halt, error) {
	cm, err := c.Clientset.CoreV1().ConfigMaps(ns).Get(ctx, HaltName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Halt{}, nil
	}
	if err != nil {
		return Halt{}, fmt.Errorf("cluster: reading the halt switch %s/%s: %w", ns, HaltName, err)
	}
	return haltFrom(cm), nil
}

// SetHalt turns the halt switch of ns on (with reason) or off, and returns the time
// the API server accepted the change.
func SetHalt(ctx context.Context, c *kube.Client, ns string, on bool, reason string) (time.Time, error) {
	cms := c.Clientset.CoreV1().ConfigMaps(ns)
	host, _ := os.Hostname()
	data := map[string]string{"halted": fmt.Sprint(on), "reason": reason, "since": time.Now().UTC().Format(time.RFC3339Nano), "by": host}
	cm, err := cms.Get(ctx, HaltName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: HaltName, Namespace: ns,
			Labels: map[string]string{"app.kubernetes.io/name": "faultline"}}, Data: data}, metav1.CreateOptions{})
	case err == nil:
		cm.Data = data
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("cluster: setting the halt switch %s/%s: %w", ns, HaltName, err)
	}
	return time.Now(), nil
}

// WatchHalt calls onHalt (once) as soon as the halt switch of ns turns on, until ctx
// is done. It watches the ConfigMap and re-establishes the watch when it ends.
func WatchHalt(ctx context.Context, c *kube.Client, ns string, onHalt func(Halt)) {
	sel := fields.OneTermEqualSelector("metadata.name", HaltName).String()
	cms := c.Clientset.CoreV1().ConfigMaps(ns)
	for ctx.Err() == nil {
		list, err := cms.List(ctx, metav1.ListOptions{FieldSelector: sel})
		if err == nil {
			for i := range list.Items {
				if h := haltFrom(&list.Items[i]); h.Halted {
					onHalt(h)
					return
				}
			}
			var w watch.Interface
			w, err = cms.Watch(ctx, metav1.ListOptions{FieldSelector: sel, ResourceVersion: list.ResourceVersion})
			if err == nil {
				for ev := range w.ResultChan() {
					if cm, ok := ev.Object.(*corev1.ConfigMap); ok && ev.Type != watch.Deleted {
						if h := haltFrom(cm); h.Halted {
							w.Stop()
							onHalt(h)
							return
						}
					}
				}
				w.Stop()
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}
