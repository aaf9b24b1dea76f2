package gotest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// CatalogConfig configures StartCatalog.
type CatalogConfig struct {
	// Addr to listen on (default 127.0.0.1:0).
	Addr string
	// FlagPath: while this file exists, the catalog's backing store "fails"
	// (the flipFlag fault creates it).
	FlagPath string
	// Resilient: answer from the last good copy when the store fails, instead of 500.
	Resilient bool
}

// Catalog is a running catalog service: GET /items.
type Catalog struct {
	URL string

	srv       *http.Server
	done      chan struct{}
	stopWatch func() bool // stops the ctx watcher
	once      sync.Once
}

const catalogItems = `{"items":["espresso","flat white","cortado"]}`

// StartCatalog serves the catalog until Close or until ctx is done.
func StartCatalog(ctx context.Context, cfg CatalogConfig) (*Catalog, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("starting catalog on %s: %w", cfg.Addr, err)
	}
	var (
		mu       sync.Mutex
		lastGood string
	)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items", func(w http.ResponseWriter, r *http.Request) {
		_, err := os.Stat(cfg.FlagPath)
		storeDown := err == nil || !errors.Is(err, fs.ErrNotExist)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case !storeDown:
			lastGood = catalogItems
			w.Header().Set("X-Served-From", "store")
			fmt.Fprintln(w, catalogItems)
		case cfg.Resilient && lastGood != "":
			w.Header().Set("X-Served-From", "cache")
			fmt.Fprintln(w, lastGood)
		default:
			http.Error(w, "catalog store unavailable", http.StatusInternalServerError)
		}
	})
	c := &Catalog{URL: "http://" + ln.Addr().String(), done: make(chan struct{}),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go func() {
		defer close(c.done)
		_ = c.srv.Serve(ln)
	}()
	c.stopWatch = context.AfterFunc(ctx, func() { _ = c.Close() })
	return c, nil
}

// Close stops the service and waits for it; it is idempotent.
func (c *Catalog) Close() error {
	var err error
	c.once.Do(func() {
		c.stopWatch()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err = c.srv.Shutdown(ctx); errors.Is(err, context.DeadlineExceeded) {
			err = c.srv.Close()
		}
		<-c.done
	})
	return err
}
