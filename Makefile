# Faultline — make targets. `make demo` and `make test` are the two that matter.
GO       ?= go
BIN      ?= bin
PKGS     ?= ./...
# The whole suite: unit tests, real-process/network/proxy tests and the real
# Kubernetes control plane tests (built once from the Go module proxy, then cached).
TEST_TIMEOUT ?= 45m
FUZZTIME ?= 20s
export GONOSUMDB = k8s.io

.PHONY: all build test unit fuzz demo demo-kubernetes game-day bench lint testenv chaos-mesh-controller chaos-mesh-crds cluster-up cluster-down clean screenshot generate check-generate

all: build

build:
	$(GO) build -o $(BIN)/chaos ./cmd/chaos

## test: vet, every test (root-only tests skip with a reason when not root), and a short fuzz of the decoder
test: lint check-generate testenv
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)
	$(MAKE) fuzz

## testenv: build (once, cached by version) etcd, kube-apiserver, kube-controller-manager,
## kube-scheduler and kwok from the Go module proxy: 7-14 min cold on 2 cores, instant warm;
## and Chaos Mesh's chaos-controller-manager (chaos-mesh-controller)
testenv: chaos-mesh-controller
	$(GO) run ./internal/testenv/controlplane/cmd/cluster build

## chaos-mesh-controller: build (once, cached by version under ~/.cache/faultline/chaosmesh)
## Chaos Mesh's real chaos-controller-manager from the Go module proxy: ~8+ min cold
chaos-mesh-controller:
	GONOSUMDB=k8s.io,github.com/chaos-mesh $(GO) run ./internal/testenv/chaosmesh/cmd/chaosmesh build

## chaos-mesh-crds: regenerate internal/testenv/chaosmesh/crds from the pinned Chaos Mesh
## api module with controller-gen v0.18.0 (3 min cold); commit the result
chaos-mesh-crds:
	sh internal/testenv/chaosmesh/gencrds.sh

## unit: only the quick tests (no control plane, no network namespaces)
unit:
	$(GO) test -short -count=1 $(PKGS)

fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzDecode -fuzztime=$(FUZZTIME) ./experiments/

## demo: a real experiment end to end, no root, no cluster
demo:
	bash examples/demo.sh

## game-day: a real ten-minute run (10 probes at 10 Hz against the shop, payments 2 s
## late for 9 minutes) measured: chaos run's peak RSS and CPU, report.json's size.
## GAME_DAY=examples/shop/experiments/game-day-1h.yaml: the same for an hour
GAME_DAY ?= examples/shop/experiments/game-day-10min.yaml
game-day:
	CHAOS_MEASURE=1 bash examples/shop/scripts/run.sh resilient $(GAME_DAY)

## demo-kubernetes: the Kubernetes story on a local control plane (no root, no Docker):
## pod kill heals (passed), a bad rollout undone by the example rollback guard (passed),
## and the same without the guard (failed: caught). First run builds the control plane.
demo-kubernetes: build
	$(GO) run ./examples/kubernetes/demo --chaos $(BIN)/chaos

## bench: every benchmark, numbers in bench.txt (proxy vs Toxiproxy and direct loopback,
## netlink vs tc/nft (root), decoder and CLI, 300-pod kill on the real control plane)
bench: build testenv
	{ $(GO) test -run='^$$' -bench=. -benchtime=3x ./cmd/chaos/ ; \
	  $(GO) test -run='^$$' -bench=. -skip='AbortLatency|LongRunPipeline' -benchmem ./experiments/ ./steadystate/... ; \
	  $(GO) test -run='^$$' -bench=AbortLatency -benchtime=10x ./experiments/ ; \
	  $(GO) test -run='^$$' -bench=LongRunReport -benchtime=1x ./reports/ ; \
	  $(GO) test -run='^$$' -bench=LongRunPipeline -benchtime=1x ./experiments/ ; \
	  $(GO) test -run='^$$' -bench=. -benchtime=1x -timeout 20m ./injectors/proxy/ ; \
	  $(GO) test -run='^$$' -bench=InjectRevert -benchtime=300x ./injectors/netfault/ ; \
	  $(GO) test -run='^$$' -bench=PodKill300 -benchtime=5x -timeout 30m ./injectors/kubernetes/ ; \
	  $(GO) test -run='^$$' -bench='WriteHTML60k|HTML60kInChromium' -benchtime=3x ./reports/ ; \
	} 2>&1 | tee bench.txt

## screenshot: regenerate docs/report.png, the README's picture of report.html, from a
## real run's report.json (reports/testdata/shop-resilient.json) with headless chromium
CHROMIUM ?= /usr/bin/chromium
screenshot: build
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(BIN)/chaos report reports/testdata/shop-resilient.json --out "$$tmp/report.html" && \
	$(CHROMIUM) --headless=new --no-sandbox --disable-gpu --disable-background-networking \
	  --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
	  --user-data-dir="$$tmp/profile" --window-size=1280,1560 \
	  --screenshot="$$PWD/docs/report.png" "file://$$tmp/report.html" 2>/dev/null && \
	echo "wrote docs/report.png"

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

## generate: the ExperimentRun CRD (deploy/crds/) and deep-copy code from experiments/cluster,
## with controller-gen pinned in go.mod (`tool` directive)
generate:
	$(GO) tool controller-gen object crd:crdVersions=v1 paths=./experiments/cluster/... output:crd:dir=deploy/crds

## check-generate: fail when the committed CRD or deep-copy code is not what `make generate` writes
check-generate: generate
	@git diff --exit-code -- deploy/crds experiments/cluster || { echo "run make generate and commit"; exit 1; }

cluster-up:
	$(GO) run ./internal/testenv/controlplane/cmd/cluster up

cluster-down:
	$(GO) run ./internal/testenv/controlplane/cmd/cluster down

clean:
	rm -rf $(BIN) chaos-reports bench.txt
