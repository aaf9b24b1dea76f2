package experiments

import (
	"context"
	"strconv"

	"github.com/faultline-dev/faultline/experiments/notify"
)

func checkNotify(c *checker, targets []notify.Target) {
	for i, t := range targets {
		for _, p := range t.Problems() {
			c.add("spec.notify["+strconv.Itoa(i)+"]."+p[0], "%s", p[1])
		}
	}
}

// notify sends the verdict to spec.notify's webhooks (not for dry runs) and keeps
// what each answered in the result; a failed notification changes no verdict.
func (r *run) notify() {
	if len(r.e.Spec.Notify) == 0 || r.opts.DryRun {
		return
	}
	where := ""
	for _, o := range r.observers {
		if co, ok := o.(*clusterObserver); ok && co.rec != nil {
			where = co.rec.Namespace() + "/" + co.rec.Name()
		}
	}
	msg := notify.NewMessage(r.res, r.opts.ReportPath, where)
	r.res.Notifications = notify.Send(context.Background(), r.e.Spec.Notify, msg)
	for _, l := range r.res.Notifications {
		r.prog.event("%s", l)
	}
}
