//go:build tools

// Package etcd pins the etcd server built by internal/testenv/controlplane;
// it is never compiled.
package etcd

import _ "go.etcd.io/etcd/server/v3"
