#!/bin/sh
# Regenerates crds/ from the pinned Chaos Mesh api module with controller-gen v0.18.0
# (the version Chaos Mesh uses). `make chaos-mesh-crds` runs it; CI checks that the
# committed CRDs are current. Needs the api module version of the main go.mod.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
api=$(cd "$root" && go list -m -f '{{.Path}}@{{.Version}}' github.com/chaos-mesh/chaos-mesh/api)
dir=$(cd "$root" && go mod download -json "$api" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$dir"/. "$tmp/api"
chmod -R u+w "$tmp/api"
cd "$tmp/api"
GOFLAGS=-mod=mod GONOSUMDB="${GONOSUMDB:-k8s.io},github.com/chaos-mesh" GOWORK=off \
	go run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.18.0 \
	crd:ignoreUnexportedFields=true,crdVersions=v1 paths=./v1alpha1/... output:crd:dir="$tmp/out"
rm -f "$here"/crds/*.yaml
cp "$tmp"/out/*.yaml "$here/crds/"
echo "wrote $(ls "$here/crds" | wc -l) CRDs from $api into $here/crds"
