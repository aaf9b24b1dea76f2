// Package notify sends a run's verdict to webhooks (spec.notify): Slack-compatible
// ({"text": ...}) or plain JSON. Webhook URLs are secrets, so they never sit in the
// experiment: each comes from an environment variable or a mounted file. A failed
// notification never changes the verdict; Send reports what each webhook answered.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/reports"
)

// Formats of Target.Format.
const (
	FormatJSON  = "json"
	FormatSlack = "slack"
)

// DefaultTimeout bounds one webhook call.
const DefaultTimeout = 5 * time.Second

// Target is one entry of spec.notify:
//
//	notify:
//	  - format: slack                       # or json (default)
//	    urlFrom: {env: SLACK_WEBHOOK_URL}   # or {file: /etc/faultline/webhook-url}
//	    on: [failed, aborted, errored]      # default: every verdict
type Target struct {
	Format  string        `yaml:"format,omitempty" json:"format,omitempty"`
	URLFrom URLFrom       `yaml:"urlFrom" json:"urlFrom"`
	On      []string      `yaml:"on,omitempty" json:"on,omitempty"`
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// URLFrom says where the webhook URL is read at send time: exactly one of Env and File.
type URLFrom struct {
	Env  string `yaml:"env,omitempty" json:"env,omitempty"`
	File string `yaml:"file,omitempty" json:"file,omitempty"`
}

// Verdicts a Target's On may name.
var Verdicts = []string{"passed", "failed", "not-steady", "aborted", "errored", "halted", "skipped"}

// Problems returns what is wrong with t, as (field, message) pairs relative to t.
func (t Target) Problems() [][2]string {
	var ps [][2]string
	switch t.Format {
	case "", FormatJSON, FormatSlack:
	default:
		ps = append(ps, [2]string{"format", fmt.Sprintf("must be %s or %s, is %q", FormatJSON, FormatSlack, t.Format)})
	}
	if (t.URLFrom.Env == "") == (t.URLFrom.File == "") {
		ps = append(ps, [2]string{"urlFrom", "must set exactly one of env and file (the URL itself never goes in the experiment)"})
	}
	for i, v := range t.On {
		if !slices.Contains(Verdicts, v) {
			ps = append(ps, [2]string{fmt.Sprintf("on[%d]", i), fmt.Sprintf("must be one of %s, is %q", strings.Join(Verdicts, ", "), v)})
		}
	}
	if t.Timeout < 0 {
		ps = append(ps, [2]string{"timeout", "must be >= 0"})
	}
	return ps
}

// Message is what is sent: the verdict, the reason, the failed checks with their
// numbers, the score and where the report is.
type Message struct {
	Experiment    string        `json:"experiment"`
	RunID         string        `json:"runID"`
	Verdict       string        `json:"verdict"`
	Reason        string        `json:"reason"`
	Score         *int          `json:"score,omitempty"`
	Started       time.Time     `json:"started"`
	Ended         time.Time     `json:"ended"`
	FailedChecks  []FailedCheck `json:"failedChecks,omitempty"`
	Report        string        `json:"report,omitempty"`        // report directory
	ExperimentRun string        `json:"experimentRun,omitempty"` // namespace/name in the cluster
}

// FailedCheck is one check that failed or errored, with its numbers.
type FailedCheck struct {
	Name     string `json:"name"`
	Status   string `json:"status"`
	Expected string `json:"expected"`
	Measured string `json:"measured"`
	Reason   string `json:"reason,omitempty"`
}

// NewMessage builds the message of res.
func NewMessage(res *reports.Result, report, experimentRun string) Message {
	m := Message{Experiment: res.Experiment, RunID: res.RunID, Verdict: res.Verdict, Reason: res.Reason,
		Started: res.Started, Ended: res.Ended, Report: report, ExperimentRun: experimentRun}
	if s, ok := reports.Score(res); ok {
		m.Score = &s
	}
	for _, c := range res.Checks {
		if c.Status == reports.CheckFailed || c.Status == reports.CheckErrored {
			m.FailedChecks = append(m.FailedChecks, FailedCheck{Name: c.Name, Status: c.Status, Expected: c.Expected, Measured: c.Measured, Reason: c.Reason})
		}
	}
	return m
}

// Text is the message as Slack mrkdwn.
func (m Message) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%s*: %s", m.Experiment, strings.ToUpper(m.Verdict))
	if m.Score != nil {
		fmt.Fprintf(&b, " (score %d)", *m.Score)
	}
	fmt.Fprintf(&b, " — run %s\n%s", m.RunID, m.Reason)
	for _, c := range m.FailedChecks {
		fmt.Fprintf(&b, "\n• %s %s: expected %s, measured %s", c.Name, c.Status, c.Expected, c.Measured)
	}
	if m.Report != "" {
		fmt.Fprintf(&b, "\nreport: %s", m.Report)
	}
	if m.ExperimentRun != "" {
		fmt.Fprintf(&b, "\nkubectl get experimentrun -n %s", strings.Replace(m.ExperimentRun, "/", " ", 1))
	}
	return b.String()
}

// Send posts m to every target whose On includes m.Verdict, and returns one line per
// target: "notify[0] slack: sent (200)" or "notify[1] json: failed: ...". It never
// returns an error: a failed notification is a line, not a verdict.
func Send(ctx context.Context, targets []Target, m Message) []string {
	var out []string
	for i, t := range targets {
		if len(t.On) > 0 && !slices.Contains(t.On, m.Verdict) {
			continue
		}
		format := t.Format
		if format == "" {
			format = FormatJSON
		}
		prefix := fmt.Sprintf("notify[%d] %s", i, format)
		if err := send(ctx, t, format, m); err != nil {
			out = append(out, prefix+": failed: "+err.Error())
			continue
		}
		out = append(out, prefix+": sent")
	}
	return out
}

func send(ctx context.Context, t Target, format string, m Message) error {
	url, err := t.URLFrom.resolve()
	if err != nil {
		return err
	}
	var body []byte
	if format == FormatSlack {
		body, err = json.Marshal(map[string]string{"text": m.Text()})
	} else {
		body, err = json.Marshal(m)
	}
	if err != nil {
		return err
	}
	timeout := t.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return errors.New("invalid webhook URL") // never echo the URL: it is a secret
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "faultline")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			err = ue.Unwrap() // drop the URL from *url.Error
		}
		return fmt.Errorf("POST: %w", err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %s: %s", resp.Status, strings.TrimSpace(string(snippet)))
	}
	return nil
}

func (u URLFrom) resolve() (string, error) {
	if u.Env != "" {
		v := strings.TrimSpace(os.Getenv(u.Env))
		if v == "" {
			return "", fmt.Errorf("environment variable %s (urlFrom.env) is not set", u.Env)
		}
		return v, nil
	}
	b, err := os.ReadFile(u.File)
	if err != nil {
		return "", fmt.Errorf("reading urlFrom.file: %w", err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("urlFrom.file %s is empty", u.File)
	}
	return v, nil
}
