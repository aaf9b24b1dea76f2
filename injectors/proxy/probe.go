package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"
)

// The proofs dial the proxy the way a client would and observe the fault. Each
// attempt is bounded (probeWait, plus the configured delay for latency). With a
// share below 1 a probe connection may be spared, so a few are tried; with share 1
// the first must show the fault.

const probeWait = 300 * time.Millisecond

// probeRequest is a harmless HTTP request; a non-HTTP upstream answers it with an
// error, which is an answer all the same (that is all the probes need).
const probeRequest = "HEAD / HTTP/1.1\r\nHost: faultline-probe\r\nUser-Agent: faultline-probe\r\n\r\n"

func attempts(share float32) int {
	if share >= 1 {
		return 1
	}
	return 20
}

func dialProbe(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: probeWait}
	return d.DialContext(ctx, "tcp", addr)
}

func proveRefused(ctx context.Context, addr string, _ time.Duration) (string, error) {
	c, err := dialProbe(ctx, addr)
	if err == nil {
		c.Close()
		return "", fmt.Errorf("dial %s: connected, want refused", addr)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return "", fmt.Errorf("dial %s: %v, want connection refused", addr, err)
	}
	return fmt.Sprintf("dial %s: connection refused", addr), nil
}

func proveReset(share float32) func(context.Context, string, time.Duration) (string, error) {
	return func(ctx context.Context, addr string, _ time.Duration) (string, error) {
		n := attempts(share)
		for i := 1; i <= n; i++ {
			c, err := dialProbe(ctx, addr)
			if err != nil {
				return "", fmt.Errorf("dial %s: %w", addr, err)
			}
			_ = c.SetDeadline(time.Now().Add(probeWait))
			_, _ = c.Write([]byte("\r\n"))
			_, err = c.Read(make([]byte, 1))
			c.Close()
			if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
				return fmt.Sprintf("probe connection %d/%d through %s: connection reset by peer", i, n, addr), nil
			}
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
		}
		return "", fmt.Errorf("none of %d probe connections through %s was reset", n, addr)
	}
}

// proveHang sends a request and expects neither an answer nor a close.
func proveHang(share float32) func(context.Context, string, time.Duration) (string, error) {
	return func(ctx context.Context, addr string, _ time.Duration) (string, error) {
		n := attempts(share)
		var last error
		for i := 1; i <= n; i++ {
			c, err := dialProbe(ctx, addr)
			if err != nil {
				return "", fmt.Errorf("dial %s: %w", addr, err)
			}
			_ = c.SetDeadline(time.Now().Add(probeWait))
			_, _ = io.WriteString(c, probeRequest)
			k, err := c.Read(make([]byte, 1))
			c.Close()
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Sprintf("probe connection %d/%d through %s: request got no answer within %v", i, n, addr, probeWait), nil
			}
			last = fmt.Errorf("probe through %s got %d bytes, %v", addr, k, err)
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
		}
		return "", last
	}
}

func proveHTTPStatus(method, path string, status int, share float32) func(context.Context, string, time.Duration) (string, error) {
	if method == "" {
		method = http.MethodGet
	}
	if path == "" {
		path = "/"
	}
	return func(ctx context.Context, addr string, _ time.Duration) (string, error) {
		hc := &http.Client{Timeout: probeWait, Transport: &http.Transport{DisableKeepAlives: true}}
		defer hc.CloseIdleConnections()
		n := attempts(share)
		var got []int
		for i := 1; i <= n; i++ {
			req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, nil)
			if err != nil {
				return "", err
			}
			req.Header.Set("User-Agent", "faultline-probe")
			resp, err := hc.Do(req)
			if err != nil {
				return "", fmt.Errorf("probe %s %s through %s: %w", method, path, addr, err)
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if resp.StatusCode == status && resp.Header.Get("X-Faultline-Toxic") != "" {
				return fmt.Sprintf("probe %s %s through %s answered %d by the proxy (request %d/%d)", method, path, addr, status, i, n), nil
			}
			got = append(got, resp.StatusCode)
		}
		return "", fmt.Errorf("probe %s %s through %s: statuses %v, want %d", method, path, addr, got, status)
	}
}

// probeRTT times one probe request to its first answer byte; 0 if no answer came
// within probeWait (a silent upstream: the delay cannot be timed).
func probeRTT(ctx context.Context, addr string) time.Duration {
	d, _ := timeProbe(ctx, addr, probeWait)
	return d
}

func timeProbe(ctx context.Context, addr string, wait time.Duration) (time.Duration, error) {
	c, err := dialProbe(ctx, addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	start := time.Now()
	_ = c.SetDeadline(start.Add(wait))
	if _, err := io.WriteString(c, probeRequest); err != nil {
		return 0, err
	}
	if _, err := bufio.NewReader(c).ReadByte(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func proveDelay(delay, jitter time.Duration, share float32) func(context.Context, string, time.Duration) (string, error) {
	return func(ctx context.Context, addr string, base time.Duration) (string, error) {
		if base == 0 {
			return fmt.Sprintf("upstream behind %s did not answer the probe before the fault: the delay was not timed", addr), nil
		}
		want := delay - jitter
		n := attempts(share)
		var last time.Duration
		for i := 1; i <= n; i++ {
			d, err := timeProbe(ctx, addr, delay+jitter+probeWait+base)
			if err != nil {
				return "", fmt.Errorf("timing a probe through %s: %w", addr, err)
			}
			if d >= want {
				return fmt.Sprintf("probe through %s answered in %v (before the fault: %v)",
					addr, d.Round(time.Microsecond), base.Round(time.Microsecond)), nil
			}
			last = d
		}
		return "", fmt.Errorf("probe through %s answered in %v, want >= %v", addr, last, want)
	}
}
