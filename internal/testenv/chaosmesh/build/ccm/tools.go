//go:build tools

// Package ccm pins Chaos Mesh's chaos-controller-manager, built by
// internal/testenv/chaosmesh; it is never compiled.
package ccm

import _ "github.com/chaos-mesh/chaos-mesh/cmd/chaos-controller-manager"
