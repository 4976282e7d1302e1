# gochatter: make run (a real echo exchange over loopback), make test (what CI runs).
GO          ?= go
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
BENCHSTAT   := golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
FUZZTIME    ?= 10000x
LONGFUZZ    ?= 10m
PKGS        := ./...

.PHONY: run test lint vet staticcheck race fuzz-brief fuzz chaos chaos-lint contrib contrib-lint soak bench bench-peers bench-peers-ab bench-proto fmt peers peers-lint

run:
	$(GO) run ./cmd/chatter-echo demo

test: lint race fuzz-brief chaos contrib peers

lint: vet staticcheck chaos-lint contrib-lint peers-lint
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

staticcheck:
	$(GO) run $(STATICCHECK) $(PKGS)

race:
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

# The chaos harness (its own module, test/chaos): every fault scenario at a
# small size, bounded by counts, and a 30-second soak, under the race
# detector. CHAOS_SCALE=full runs the scenarios at full size.
chaos:
	cd test/chaos && $(GO) test -race -count=1 -timeout 15m ./...

chaos-lint:
	cd test/chaos && $(GO) vet ./... && $(GO) run $(STATICCHECK) ./...

# The peers harness's own tests (test/peers, its own module): the report
# it writes, read back, and the paired comparison of two builds. The
# workloads themselves run with make bench-peers, not here. And
# test/tracehops, which reads an execution trace hop by hop.
peers:
	cd test/peers && $(GO) test -count=1 -timeout 5m ./...
	cd test/tracehops && $(GO) test -count=1 -timeout 5m ./...

peers-lint:
	cd test/peers && $(GO) vet ./... && $(GO) run $(STATICCHECK) ./...
	cd test/tracehops && $(GO) vet ./... && $(GO) run $(STATICCHECK) ./...

# The adapters under contrib/ (each its own module, so that the library
# keeps no dependency beyond the standard library).
CONTRIB := $(wildcard contrib/*/go.mod)
contrib:
	@set -e; for m in $(dir $(CONTRIB)); do echo "== $$m"; (cd $$m && $(GO) test -race -count=1 -timeout 10m ./...); done

contrib-lint:
	@set -e; for m in $(dir $(CONTRIB)); do (cd $$m && $(GO) vet ./... && $(GO) run $(STATICCHECK) ./...); done

# The soak alone, for SOAK (any duration; 10m by default), its plot drawn
# to SOAK_PLOT (soak.png by default). Not part of make test.
SOAK      ?= 10m
SOAK_PLOT ?= $(CURDIR)/soak.png
soak:
	cd test/chaos && SOAK=$(SOAK) SOAK_PLOT=$(SOAK_PLOT) $(GO) test -count=1 -run '^TestSoak$$' -timeout 0 -v .

# Every fuzz target for FUZZTIME each; the seed corpus lives in testdata/fuzz.
# make test counts executions (-fuzztime=Nx), never a duration: a duration
# can fail a run on a busy machine with a bare "context deadline exceeded"
# from the fuzz coordinator (golang/go#75804).
fuzz-brief:
	@FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

fuzz:
	@FUZZTIME=$(LONGFUZZ) ./scripts/fuzz.sh

bench:
	$(GO) test -run='^$$' -bench=. -benchmem -count=6 ./pkg/... | tee bench.txt
	$(GO) run $(BENCHSTAT) bench.txt

# gochatter beside gRPC, NATS and raw framing (its own module, test/peers);
# PEERSFLAGS="-quick" for a smoke run, "-only oneway,rtt", "-o FILE".
bench-peers:
	cd test/peers && $(GO) run . $(PEERSFLAGS)

# The peers harness built against the library at REV and against the
# working tree, run in turn PAIRS times, then compared pair by pair:
# gochatter's ratio to raw framing, new ÷ old, with a 95 % interval
# (test/peers/ab.sh). PEERSFLAGS as for bench-peers, "-only conns" say.
REV   ?= HEAD
PAIRS ?= 6
bench-peers-ab:
	cd test/peers && GO=$(GO) ./ab.sh $(REV) $(PAIRS) $(PEERSFLAGS)

# SBS codecs (generated, bindings, dynamic) beside protobuf-go (its own
# module, test/protobench); benchstat sets them side by side, protobuf first.
bench-proto:
	cd test/protobench && $(GO) test -run='^$$' -bench=. -benchmem -count=6 | tee ../../bench-proto.txt
	$(GO) run $(BENCHSTAT) -col /impl bench-proto.txt

fmt:
	gofmt -w $$(git ls-files '*.go')
