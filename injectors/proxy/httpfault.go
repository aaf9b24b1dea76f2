package proxy

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The http_fault toxic reads HTTP/1.1 requests on the upstream stream. For each
// request it parses the head (request line and headers), finds the body's framing
// (Content-Length or chunked), and then either forwards the request unchanged, or
// (for a matching request, with probability share):
//
//	status  swallows the request and answers it itself ("HTTP/1.1 503 ...")
//	delay   holds the request for delay_ms, then forwards it
//	abort   resets (RST) the client and upstream connections
//
// Keep-alive and pipelined requests are framed one by one, so only matching requests
// are touched. A request answered by the proxy while an earlier forwarded request's
// response is still in flight could interleave with it; net/http clients never do
// that (one request in flight per connection). Input that is not HTTP/1.x (or a head
// over 64 KiB, or a protocol upgrade) is passed through untouched for the rest of the
// connection.

const (
	psHeaders = iota
	psBody
	psChunkSize
	psChunkData
	psTrailer
	psPass
)

type httpParser struct {
	buf        []byte
	state      int
	remain     int64
	discard    bool   // the current request is answered by the proxy: drop its bytes
	resp       []byte // the answer, written once the request is consumed
	closeAfter bool
}

// busy reports whether the parser is inside a request and must see its end.
func (h *httpParser) busy() bool {
	return h != nil && h.state != psPass && (h.state != psHeaders || len(h.buf) > 0)
}

// flush forwards bytes held back (at EOF).
func (h *httpParser) flush(pp *pump) {
	if h != nil && len(h.buf) > 0 && !h.discard {
		pp.forward(h.buf, time.Now())
	}
	if h != nil {
		h.buf = nil
	}
}

type reqHead struct {
	method, path string
	header       http.Header
	length       int64
	chunked      bool
	close        bool
	expect       bool
	upgrade      bool
}

func (h *httpParser) emit(pp *pump, b []byte, at time.Time) {
	if !h.discard {
		pp.forward(b, at)
	}
}

func (h *httpParser) finish(pp *pump) error {
	h.state = psHeaders
	if !h.discard {
		return nil
	}
	h.discard = false
	resp := h.resp
	h.resp = nil
	if _, err := pp.l.client.Write(resp); err != nil {
		return err
	}
	if h.closeAfter {
		pp.l.close()
		return io.ErrClosedPipe
	}
	return nil
}

// feed consumes data from the client. rules are the http_fault toxics in force.
func (h *httpParser) feed(pp *pump, data []byte, at time.Time, rules []*toxic) error {
	h.buf = append(h.buf, data...)
	for len(h.buf) > 0 {
		switch h.state {
		case psPass:
			pp.forward(h.buf, at)
			h.buf = h.buf[:0]
		case psHeaders:
			if bytes.HasPrefix(h.buf, []byte("\r\n")) { // tolerated empty line
				pp.forward(h.buf[:2], at)
				h.buf = h.buf[2:]
				continue
			}
			i := bytes.Index(h.buf, []byte("\r\n\r\n"))
			if i < 0 {
				if len(h.buf) > 64<<10 || (len(h.buf) >= 8 && !looksHTTP(h.buf)) {
					h.state = psPass
					continue
				}
				return nil
			}
			head := h.buf[:i+4]
			req, ok := parseHead(head)
			if !ok {
				h.state = psPass
				continue
			}
			t := match(rules, req)
			if err := h.start(pp, t, req, head, at); err != nil {
				return err
			}
			h.buf = h.buf[i+4:]
			switch {
			case req.upgrade:
				h.state = psPass
			case req.chunked:
				h.state = psChunkSize
			case req.length > 0:
				h.state, h.remain = psBody, req.length
			default:
				if err := h.finish(pp); err != nil {
					return err
				}
			}
		case psBody, psChunkData:
			n := int(min(h.remain, int64(len(h.buf))))
			h.emit(pp, h.buf[:n], at)
			h.buf, h.remain = h.buf[n:], h.remain-int64(n)
			if h.remain == 0 {
				if h.state == psChunkData {
					h.state = psChunkSize
				} else if err := h.finish(pp); err != nil {
					return err
				}
			}
		case psChunkSize, psTrailer:
			i := bytes.Index(h.buf, []byte("\r\n"))
			if i < 0 {
				if len(h.buf) > 4096 {
					h.state = psPass
					continue
				}
				return nil
			}
			line := h.buf[:i+2]
			h.emit(pp, line, at)
			h.buf = h.buf[i+2:]
			if h.state == psTrailer {
				if i == 0 {
					if err := h.finish(pp); err != nil {
						return err
					}
				}
				continue
			}
			sz, _, _ := strings.Cut(string(line[:i]), ";")
			n, err := strconv.ParseInt(strings.TrimSpace(sz), 16, 64)
			if err != nil || n < 0 {
				h.state = psPass
				continue
			}
			if n == 0 {
				h.state = psTrailer
			} else {
				h.state, h.remain = psChunkData, n+2 // data and its CRLF
			}
		}
	}
	return nil
}

// start acts on a parsed request head: forward it, delay it, answer it or abort.
func (h *httpParser) start(pp *pump, t *toxic, req reqHead, head []byte, at time.Time) error {
	if t == nil {
		pp.forward(head, at)
		return nil
	}
	r := t.http
	switch r.action {
	case "abort":
		pp.l.reset()
		return io.ErrClosedPipe
	case "delay":
		if !pp.waitHTTP(t, r.delay) {
			return io.ErrClosedPipe
		}
		pp.forward(head, time.Now())
		return nil
	}
	h.discard = true
	h.closeAfter = req.close || req.expect
	body := r.body
	if body == "" {
		body = fmt.Sprintf("faultline: injected %d by %s\n", r.status, t.spec.Name)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nX-Faultline-Toxic: %s\r\n",
		r.status, http.StatusText(r.status), len(body), t.spec.Name)
	if h.closeAfter {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("\r\n")
	if req.method != http.MethodHead {
		b.WriteString(body)
	}
	h.resp = b.Bytes()
	if req.expect { // the client waits for "100 Continue": answer now, then close
		h.state = psHeaders
		return h.finish(pp)
	}
	return nil
}

// waitHTTP holds the reader for d, ending early if the toxic is removed. It returns
// false if the link closed.
func (pp *pump) waitHTTP(t *toxic, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		ch := *pp.l.p.changed.Load()
		if !pp.l.active(pp.dir, t.id) {
			return true
		}
		select {
		case <-timer.C:
			return true
		case <-ch:
		case <-pp.l.done:
			return false
		}
	}
}

func match(rules []*toxic, req reqHead) *toxic {
	for _, t := range rules {
		r := t.http
		if r.method != "" && r.method != req.method {
			continue
		}
		if r.pathPrefix != "" && !strings.HasPrefix(req.path, r.pathPrefix) {
			continue
		}
		if r.headerName != "" {
			vs, ok := req.header[r.headerName]
			if !ok || (r.headerV != "" && !containsFold(vs, r.headerV)) {
				continue
			}
		}
		if r.share < 1 && rand.Float64() >= r.share {
			continue
		}
		return t
	}
	return nil
}

func containsFold(vs []string, v string) bool {
	for _, x := range vs {
		if strings.EqualFold(strings.TrimSpace(x), v) {
			return true
		}
	}
	return false
}

func looksHTTP(b []byte) bool {
	sp := bytes.IndexByte(b, ' ')
	if sp <= 0 || sp > 20 {
		return false
	}
	for _, c := range b[:sp] {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// parseHead parses a request head ending in CRLF CRLF.
func parseHead(head []byte) (reqHead, bool) {
	lines := strings.Split(string(head[:len(head)-4]), "\r\n")
	parts := strings.Split(lines[0], " ")
	if len(parts) != 3 || !strings.HasPrefix(parts[2], "HTTP/1.") || !looksHTTP([]byte(lines[0])) {
		return reqHead{}, false
	}
	req := reqHead{method: parts[0], path: parts[1], header: http.Header{}}
	if u, err := url.ParseRequestURI(parts[1]); err == nil {
		req.path = u.Path
	}
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			return reqHead{}, false
		}
		req.header.Add(http.CanonicalHeaderKey(strings.TrimSpace(k)), strings.TrimSpace(v))
	}
	if te := req.header.Values("Transfer-Encoding"); len(te) > 0 {
		req.chunked = strings.EqualFold(strings.TrimSpace(te[len(te)-1]), "chunked")
		if !req.chunked {
			return reqHead{}, false
		}
	} else if cl := req.header.Get("Content-Length"); cl != "" {
		n, err := strconv.ParseInt(cl, 10, 64)
		if err != nil || n < 0 {
			return reqHead{}, false
		}
		req.length = n
	}
	conn := strings.ToLower(strings.Join(req.header.Values("Connection"), ","))
	req.close = strings.Contains(conn, "close") || (parts[2] == "HTTP/1.0" && !strings.Contains(conn, "keep-alive"))
	req.upgrade = strings.Contains(conn, "upgrade") || req.method == http.MethodConnect
	req.expect = strings.EqualFold(req.header.Get("Expect"), "100-continue")
	return req, true
}
