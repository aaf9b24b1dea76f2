package proxy

import (
	"encoding/json"
	"net/http"
)

func (s *Server) proxyIndex(w http.ResponseWriter, _ *http.Request) {
	out := map[string]proxyJSON{}
	for _, p := range s.Proxies() {
		out[p.Name()] = toJSON(p)
	}
	writeJSON(w, http.StatusOK, out)
}

// proxyIn is a proxy as clients send it. Toxiproxy's Go client sends the proxy's
// current toxics too ("toxics"); they are accepted and ignored, as Toxiproxy does.
type proxyIn struct {
	Config
	Enabled *bool             `json:"enabled"`
	Toxics  []json.RawMessage `json:"toxics"`
}

func (s *Server) proxyCreate(w http.ResponseWriter, r *http.Request) {
	in := proxyIn{}
	if err := decode(r, &in); err != nil {
		writeErr(w, err)
		return
	}
	if in.Name == "" {
		writeErr(w, apiErr(http.StatusBadRequest, "missing required field: name"))
		return
	}
	if in.Upstream == "" {
		writeErr(w, apiErr(http.StatusBadRequest, "missing required field: upstream"))
		return
	}
	if err := in.Config.Validate(); err != nil {
		writeErr(w, apiErr(http.StatusBadRequest, "%v", err))
		return
	}
	p, err := s.Add(in.Config, in.Enabled == nil || *in.Enabled)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, toJSON(p))
}

func (s *Server) populateHandler(w http.ResponseWriter, r *http.Request) {
	var in []proxyIn
	if err := decode(r, &in); err != nil {
		writeErr(w, err)
		return
	}
	cfgs := make([]Config, len(in))
	on := make([]bool, len(in))
	for i, c := range in {
		cfgs[i], on[i] = c.Config, c.Enabled == nil || *c.Enabled
	}
	ps, err := s.populate(cfgs, on)
	out := struct {
		*apiError
		Proxies []proxyJSON `json:"proxies"`
	}{Proxies: []proxyJSON{}}
	for _, p := range ps {
		out.Proxies = append(out.Proxies, toJSON(p))
	}
	status := http.StatusCreated
	if err != nil {
		out.apiError = toAPIError(err)
		status = out.apiError.Status
	}
	writeJSON(w, status, out)
}

func (s *Server) proxyShow(w http.ResponseWriter, r *http.Request) {
	p, err := s.Get(r.PathValue("proxy"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toJSON(p))
}

// proxyUpdate changes listen, upstream and enabled in one step: a refused update
// (a bad or disallowed upstream, an address that cannot be bound: 409) leaves the
// proxy exactly as it was.
func (s *Server) proxyUpdate(w http.ResponseWriter, r *http.Request) {
	p, err := s.Get(r.PathValue("proxy"))
	if err != nil {
		writeErr(w, err)
		return
	}
	in := struct {
		Name     string            `json:"name"`
		Listen   string            `json:"listen"`
		Upstream string            `json:"upstream"`
		Enabled  bool              `json:"enabled"`
		Toxics   []json.RawMessage `json:"toxics"` // sent by Toxiproxy's client; ignored
	}{Name: p.Name(), Listen: p.Addr(), Upstream: p.Upstream(), Enabled: p.Enabled()}
	if err := decode(r, &in); err != nil {
		writeErr(w, err)
		return
	}
	if in.Name != p.Name() {
		writeErr(w, apiErr(http.StatusBadRequest, "a proxy cannot be renamed (name %q in the body of %s)", in.Name, p.Name()))
		return
	}
	if err := (Config{Name: p.Name(), Listen: in.Listen, Upstream: in.Upstream}).Validate(); err != nil {
		writeErr(w, apiErr(http.StatusBadRequest, "%v", err))
		return
	}
	if in.Upstream != p.Upstream() {
		if err := s.admit(r.Context(), in.Upstream); err != nil {
			writeErr(w, err)
			return
		}
	}
	if err := p.Reconfigure(in.Listen, in.Upstream, in.Enabled); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toJSON(p))
}

func (s *Server) proxyDelete(w http.ResponseWriter, r *http.Request) {
	if err := s.Remove(r.PathValue("proxy")); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) reset(w http.ResponseWriter, _ *http.Request) {
	if err := s.Reset(); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) toxicIndex(w http.ResponseWriter, r *http.Request) {
	p, err := s.Get(r.PathValue("proxy"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p.Toxics())
}

func (s *Server) toxicCreate(w http.ResponseWriter, r *http.Request) {
	p, err := s.Get(r.PathValue("proxy"))
	if err != nil {
		writeErr(w, err)
		return
	}
	in := struct {
		Toxic
		Toxicity *float32 `json:"toxicity"`
	}{}
	if err := decode(r, &in); err != nil {
		writeErr(w, err)
		return
	}
	t := in.Toxic
	t.Toxicity = 1 // Toxiproxy's default when absent
	if in.Toxicity != nil {
		t.Toxicity = *in.Toxicity
	}
	c, err := compile(t) // to report the normalised toxic
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := p.AddToxic(t); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, c.spec)
}

func (s *Server) toxicShow(w http.ResponseWriter, r *http.Request) {
	p, err := s.Get(r.PathValue("proxy"))
	if err != nil {
		writeErr(w, err)
		return
	}
	t, ok := p.Toxic(r.PathValue("toxic"))
	if !ok {
		writeErr(w, ErrToxicNotFound)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (s *Server) toxicUpdate(w http.ResponseWriter, r *http.Request) {
	p, err := s.Get(r.PathValue("proxy"))
	if err != nil {
		writeErr(w, err)
		return
	}
	in := struct {
		Attributes map[string]any `json:"attributes"`
		Toxicity   *float32       `json:"toxicity"`
	}{}
	if err := decode(r, &in); err != nil {
		writeErr(w, err)
		return
	}
	t, err := p.UpdateToxic(r.PathValue("toxic"), in.Toxicity, in.Attributes)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (s *Server) toxicDelete(w http.ResponseWriter, r *http.Request) {
	p, err := s.Get(r.PathValue("proxy"))
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := p.RemoveToxic(r.PathValue("toxic")); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
