package netfault

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	fixture "github.com/faultline-dev/faultline/internal/testenv/netns"
)

// udpArrives sends datagrams from one namespace to a socket in the other and
// reports whether any arrived within wait.
func udpArrives(t *testing.T, from, to *fixture.NS, wait time.Duration) bool {
	t.Helper()
	pc, err := to.ListenPacket("udp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	port := pc.LocalAddr().(*net.UDPAddr).Port
	var sender net.Conn
	if err := from.Do(func() (err error) {
		sender, err = net.Dial("udp4", net.JoinHostPort(to.IP.String(), strconv.Itoa(port)))
		return
	}); err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	for range 3 {
		sender.Write([]byte("ping")) // EPERM when dropped on output: that is the point
	}
	pc.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 16)
	_, _, err = pc.ReadFrom(buf)
	return err == nil
}

// synRecv counts sockets in SYN_RECV on local port in ns: the server side saw a
// SYN and answered it, but the handshake never completed.
func synRecv(t *testing.T, ns *fixture.NS, port int) int {
	t.Helper()
	n := 0
	err := ns.Do(func() error {
		f, err := os.Open("/proc/thread-self/net/tcp")
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		local := fmt.Sprintf(":%04X", port)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) > 3 && strings.HasSuffix(fs[1], local) && fs[3] == "03" {
				n++
			}
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPartition: a TCP client in A reaches a server in B, fails while A is
// partitioned from B, and reaches it again after revert. Per direction, UDP shows
// which way packets are dropped, and B's SYN_RECV sockets show what "from" means
// for TCP: B still receives the SYN and answers, A drops the answer.
func TestPartition(t *testing.T) {
	cases := []struct {
		direction     string
		aToB, bToA    bool // UDP delivered during the fault
		serverSeesSYN bool
	}{
		{"to", false, true, false},
		{"from", true, false, true},
		{"both", false, false, false},
	}
	for _, c := range cases {
		t.Run(c.direction, func(t *testing.T) {
			p := fixture.NewPair(t)
			port := serveTCP(t, p.B, nil)
			portA := serveTCP(t, p.A, nil)
			if err := canConnect(p.A, p.B.IP, port, 2*time.Second); err != nil {
				t.Fatalf("before the fault A cannot reach B: %v", err)
			}
			before := snapshot(t, p.A)
			spec := &PartitionSpec{
				Target:     Target{NetNS: p.A.Name},
				CIDRs:      []string{p.B.IP.String() + "/32"},
				Direction:  c.direction,
				VerifyWith: net.JoinHostPort(p.B.IP.String(), strconv.Itoa(port)), VerifyTimeout: 300 * time.Millisecond,
			}
			r, _ := inject(t, newFault(t, "networkPartition", spec, "part-"+c.direction))

			if err := canConnect(p.A, p.B.IP, port, 300*time.Millisecond); err == nil {
				t.Fatal("A reached B's server during the partition")
			}
			if err := canConnect(p.B, p.A.IP, portA, 300*time.Millisecond); err == nil {
				t.Fatal("B reached A's server during the partition")
			}
			if got := synRecv(t, p.B, port) > 0; got != c.serverSeesSYN {
				t.Errorf("B's server saw the SYN: %v, want %v", got, c.serverSeesSYN)
			}
			if got := udpArrives(t, p.A, p.B, 300*time.Millisecond); got != c.aToB {
				t.Errorf("UDP A→B delivered: %v, want %v", got, c.aToB)
			}
			if got := udpArrives(t, p.B, p.A, 300*time.Millisecond); got != c.bToA {
				t.Errorf("UDP B→A delivered: %v, want %v", got, c.bToA)
			}

			revert(t, r)
			sameSnapshot(t, p.A, before)
			if err := canConnect(p.A, p.B.IP, port, 2*time.Second); err != nil {
				t.Fatalf("after revert A cannot reach B: %v", err)
			}
			if !udpArrives(t, p.A, p.B, 2*time.Second) || !udpArrives(t, p.B, p.A, 2*time.Second) {
				t.Fatal("UDP not delivered both ways after revert")
			}
		})
	}
}

// TestPartitionPorts: only the listed remote port is cut; another port of the
// same host still answers.
func TestPartitionPorts(t *testing.T) {
	p := fixture.NewPair(t)
	cut := serveTCP(t, p.B, nil)
	open := serveTCP(t, p.B, nil)
	spec := &PartitionSpec{Target: Target{NetNS: p.A.Path, Interfaces: []string{p.A.Link}}, CIDRs: []string{"10.213.0.0/30"}, Ports: []int{cut}, Direction: "to"}
	r, _ := inject(t, newFault(t, "networkPartition", spec, "ports"))
	if err := canConnect(p.A, p.B.IP, cut, 300*time.Millisecond); err == nil {
		t.Fatal("port under partition still reachable")
	}
	if err := canConnect(p.A, p.B.IP, open, 2*time.Second); err != nil {
		t.Fatalf("other port cut too: %v", err)
	}
	revert(t, r)
	if err := canConnect(p.A, p.B.IP, cut, 2*time.Second); err != nil {
		t.Fatalf("after revert: %v", err)
	}
}
