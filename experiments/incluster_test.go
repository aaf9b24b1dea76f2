package experiments

import (
	"reflect"
	"testing"
)

func TestJournaledFromLines(t *testing.T) {
	run := journaledFromLines([]string{
		`{"event":"inject","fault":"a","kind":"deploymentScale"}`,
		`{"event":"state","fault":"a","state":{"replicas":6}}`,
		`{"event":"inject","fault":"b","kind":"badRollout"}`,
		`{"event":"inject","fault":"c","kind":"podKill"}`,
		`{"event":"reverted","fault":"c"}`,
		`{"event":"state","fault":"b",`, // torn
	})
	if len(run.Pending) != 2 || run.Pending[0].Fault != "a" || run.Pending[1].Fault != "b" {
		t.Fatalf("pending %+v, want a then b", run.Pending)
	}
	if !reflect.DeepEqual([]byte(run.Pending[0].State), []byte(`{"replicas":6}`)) || run.Pending[1].State != nil {
		t.Fatalf("states %s / %s", run.Pending[0].State, run.Pending[1].State)
	}
}
