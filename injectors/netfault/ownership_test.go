package netfault

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/faultline-dev/faultline/injectors"
	fixture "github.com/faultline-dev/faultline/internal/testenv/netns"
)

// TestQdiscOwnership: a qdisc fault draws a handle no other unfinished run has
// journaled in the namespace; Recover deletes the qdisc only when kind and
// parameters match what was journaled and no live run claims it.
func TestQdiscOwnership(t *testing.T) {
	p := fixture.NewPair(t)
	before := snapshot(t, p.A)
	ino, err := nsInode(p.A.Path)
	if err != nil {
		t.Fatal(err)
	}
	runID := "own-1"
	mine := runMajor(runID)
	// Dead run "other" holds this run's natural handle in this namespace (its qdisc
	// vanished; its journal waits for recover).
	held, _ := json.Marshal(State{Fault: "networkBandwidth", RunID: "other", NetNS: p.A.Path, Inode: ino,
		Qdiscs: []QdiscState{{LinkIndex: 99, LinkName: "veth-a", Handle: netlink.MakeHandle(mine, 0), Kind: "tbf"}}})
	env := &injectors.Env{RunID: runID, Claims: func() []injectors.Claim {
		return []injectors.Claim{{RunID: "other", Fault: "x", Kind: "networkBandwidth", State: held}}
	}}
	f, err := newBandwidth(&BandwidthSpec{Target: Target{NetNS: p.A.Path, Interfaces: []string{p.A.Link}}, Rate: "8mbit"}, env)
	if err != nil {
		t.Fatal(err)
	}
	undoIt, j := inject(t, f)
	st, err := decodeState(j.state)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := netlink.MajorMinor(st.Qdiscs[0].Handle)
	want := mine + 2
	if want >= handleBase+handleSpan {
		want = handleBase
	}
	if got != want {
		t.Fatalf("drew %x:, want %x: (%x: is held by another run's journal)", got, want, mine)
	}

	ctx := context.Background()
	// Same handle, other parameters: not this fault's qdisc.
	other := *st
	other.Qdiscs = []QdiscState{st.Qdiscs[0]}
	leaf := *st.Qdiscs[0].Leaf
	leaf.Rate *= 2
	other.Qdiscs[0].Leaf = &leaf
	raw, _ := json.Marshal(other)
	if err := recoverState(ctx, &injectors.Env{}, raw); !errors.Is(err, injectors.ErrNothingToRevert) || !strings.Contains(err.Error(), "not with the kind and parameters") {
		t.Fatalf("recover with other parameters: %v", err)
	}
	// A live run claims the very same qdisc: left alone.
	liveEnv := &injectors.Env{Claims: func() []injectors.Claim {
		return []injectors.Claim{{RunID: "live-run", Alive: true, Kind: "networkBandwidth", State: j.state}}
	}}
	if err := recoverState(ctx, liveEnv, j.state); !errors.Is(err, injectors.ErrNothingToRevert) || !strings.Contains(err.Error(), "live run live-run has journaled the same qdisc") {
		t.Fatalf("recover of a live run's qdisc: %v", err)
	}
	if after := snapshot(t, p.A); after == before {
		t.Fatal("the qdisc was deleted although it was not ours to delete")
	}
	// The owner's journal, nobody else claiming it: deleted, and it says so.
	var did []string
	if err := recoverState(ctx, &injectors.Env{Logf: func(f string, a ...any) { did = append(did, f) }}, j.state); err != nil || len(did) != 1 {
		t.Fatalf("recover: %v %v", err, did)
	}
	sameSnapshot(t, p.A, before)
	revert(t, undoIt) // idempotent after recover
}

// A state of unknown shape is an error, never "nothing to revert" or a revert.
func TestRecoverStateStrict(t *testing.T) {
	for _, raw := range []string{
		`{}`,
		`{"fault":"networkBandwidth","runID":"r","netns":"/run/netns/x","inode":1,"qdiscs":[],"bogus":1}`,
		`{"fault":"networkBandwidth","runID":"r","netns":"/run/netns/x","inode":1}`,
		`{"fault":"processPause","runID":"r","netns":"/run/netns/x","nftTable":"faultline_r_0123abcd"}`,
		`{"fault":"networkPartition","runID":"r","netns":"/run/netns/x","nftTable":"mine"}`,
		`{"fault":"networkBandwidth","runID":"r","netns":"/run/netns/x","qdiscs":[{"linkName":"eth0","handle":65536,"kind":"pfifo"}]}`,
		`[1]`,
	} {
		err := recoverState(context.Background(), &injectors.Env{}, json.RawMessage(raw))
		if err == nil || errors.Is(err, injectors.ErrNothingToRevert) {
			t.Errorf("%s: %v", raw, err)
		}
	}
}
