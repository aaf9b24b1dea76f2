//go:build tools

// Package kwok pins the kwok command built by internal/testenv/controlplane;
// it is never compiled.
package kwok

import _ "sigs.k8s.io/kwok/cmd/kwok"
