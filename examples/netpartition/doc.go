// Package netpartition is an example experiment: a web server lives in its own
// network namespace, joined to the host by a veth pair; the experiment cuts the
// namespace off from the host with networkPartition, and the HTTP probe — which
// runs on the host, like every probe of the runner — fails while the partition
// holds and recovers after it is reverted.
//
//	host (runner, probe)                         netns faultline-netpartition
//	  fl-np-host 10.213.7.1/30  ◀── veth ──▶  veth0 10.213.7.2/30, web :18095
//	                                            nftables table faultline_<run>_…
//	                                            drops to/from 10.213.7.1
//
// Run it as root: go test ./examples/netpartition/ (the test builds the namespace
// and the server, then runs experiment.yaml); by hand, create the same namespace
// and server and run `chaos run examples/netpartition/experiment.yaml`.
package netpartition
