package shop

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"
)

// PaymentsConfig configures the payments service.
type PaymentsConfig struct {
	// Addr to listen on (default "127.0.0.1:0").
	Addr string
	// Latency is added to every charge (default none).
	Latency time.Duration
	// Logf, when set, receives one line per start and per failed charge.
	Logf func(format string, args ...any)
}

// StartPayments starts the payments service: POST /charge answers
// {"id":"ch_N","status":"paid"} after cfg.Latency; GET /healthz answers "ok".
// It runs until Close is called or ctx is done.
func StartPayments(ctx context.Context, cfg PaymentsConfig) (*Server, error) {
	if cfg.Latency < 0 {
		return nil, fmt.Errorf("starting payments: latency must be >= 0, got %s", cfg.Latency)
	}
	var charges atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("POST /charge", func(w http.ResponseWriter, r *http.Request) {
		if !sleep(r.Context(), cfg.Latency) {
			logf(cfg.Logf, "payments: charge abandoned by caller after %s", cfg.Latency)
			return
		}
		n := charges.Add(1)
		writeJSON(w, http.StatusOK, map[string]string{"id": fmt.Sprintf("ch_%d", n), "status": "paid"})
	})
	s, err := serve(ctx, "payments", cfg.Addr, mux)
	if err != nil {
		return nil, err
	}
	logf(cfg.Logf, "payments: listening on %s (latency %s)", s.URL, cfg.Latency)
	return s, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
