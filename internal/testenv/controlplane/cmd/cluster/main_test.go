package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "usage: cluster up|down|status|build"},
		{[]string{"sideways"}, `unknown command "sideways"`},
		{[]string{"status", "--dir", dir}, "reading control plane state"},
		{[]string{"up", "--bogus"}, "flag provided but not defined: -bogus"},
	} {
		var out, errb bytes.Buffer
		err := run(context.Background(), tc.args, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"down", "--dir", dir}, &out, &out); err != nil {
		t.Errorf("down without a cluster must succeed (idempotent): %v", err)
	}
}
