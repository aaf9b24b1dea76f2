// Package proxy is Faultline's fault proxy: a TCP proxy whose connections carry
// faults ("toxics", in Toxiproxy's words), the Toxiproxy-v2-compatible HTTP API that
// `chaos proxy` serves, and the experiment injectors dependencyFailure, latency and
// partition that act on a proxy.
//
//	client ──▶ Listen ─┬─ upstream stream (requests)    ─▶ Upstream
//	                   └◀ downstream stream (responses) ──┘
//
// Each connection is two pumps, one per stream. With no toxic in force a pump is a
// read(2)/write(2) loop on a pooled 256 KiB buffer: no goroutine hop, no lock, no
// buffer held while idle. The toxics of each stream form an immutable chain held in
// an atomic.Pointer; adding, updating or removing a toxic builds a new chain and
// swaps it in. Every pump compares its snapshot with the current chain right before
// and right after each read, so the next bytes a live connection reads go through
// the new chain: bytes sent after AddToxic or RemoveToxic returned always do, on idle
// and busy connections alike (a pump blocked writing to a peer that does not read
// gets there after that write). Data held by a removed latency toxic is released at
// once (writers watch a broadcast channel). A timeout toxic with a timeout, which
// closes idle connections too, adds one timer for the connections live when it is
// added.
//
// So the control plane never touches a connection: AddToxic and RemoveToxic take a
// few microseconds whatever the number of connections, and cannot hang (Toxiproxy
// issue 558).
//
// With toxics in force the pump splits in a reader (timeout, reset_peer, http_fault
// act on data as it arrives) and a writer goroutine (latency, slicer, bandwidth,
// limit_data, slow_close act before data is written). The writer schedules every
// chunk by deadline, arrival + latency ± jitter, so delays never accumulate. Go
// timers fire up to 1 ms late (the runtime's epoll_wait timeout is in ms), so the
// last 2 ms are slept on a timerfd and the last 25 µs busy-waited.
//
// Toxicity is the share of connections a toxic affects; the choice is a stable
// hash of (connection, toxic), so a connection keeps its fate across chain changes
// and an update of the toxic's attributes.
//
// Differences from Toxiproxy, on purpose: unknown JSON keys, unknown attribute names,
// negative values and time attributes above 24 h are rejected (400) instead of
// ignored; bind failures are 409 and a refused update changes nothing; the API can
// require HTTP Basic credentials and restrict upstreams (Options); write-side toxics act in a fixed
// order (latency, slicer, bandwidth, limit_data) rather than in the order added;
// reset_peer resets both sides; an empty listen address means 127.0.0.1:0, never
// all interfaces; and the http_fault toxic is new.
package proxy
