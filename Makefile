# lapsebox: `make demo` runs the appliance in QEMU, `make test` runs every test.

BOARD ?= pc
GO ?= go
LAPSEBOX := build/lapsebox
TESTSUMMARY := build/testsummary
# make fuzz runs each fuzz target this long.
FUZZTIME ?= 30s
# make bench runs these cells of the backlog drain table, a -bench pattern
# below BacklogDrain/ (target/rate/mix: BACKLOG_CELLS='cloud/100Mbit');
# all of them take about 20 minutes.
BACKLOG_CELLS ?= .
SHELL := /bin/bash

.PHONY: all deps lapsebox libusb image demo test test-short soak fuzz bench bench-table fmt clean

all: image

deps:
	@scripts/install-deps

lapsebox:
	$(GO) build -o $(LAPSEBOX) ./cmd/lapsebox

# Static libusb without udev for the cgo services (camerad), per GOARCH, in
# build/libusb/GOARCH. The image build runs this when a service has CGO set
# and the library is missing; it is kept until deleted (make clean).
LIBUSB_ARCHS ?= amd64 arm64
libusb:
	@for a in $(LIBUSB_ARCHS); do scripts/build-libusb $$a || exit 1; done

# build/lapsebox-$(BOARD).img and its manifest
image: deps lapsebox
	$(LAPSEBOX) build -board $(BOARD)

# Boots the pc image with the embedded default configuration; Ctrl-C stops it.
demo: deps lapsebox
	$(LAPSEBOX) vm -build -board pc -camera -cloud

# Every test, including those that build images and boot them under QEMU,
# as CI runs them: with CI=1 a test that lacks a tool or server fails
# instead of skipping. go vet, and go mod tidy must change nothing.
# testsummary shows the output of failing tests in full and ends with a
# table of passed, failed and skipped tests per package; it fails the run
# on a failure, on a package with tests that ran none, and on any skip but
# an optional one (internal/testtool). -count=1: every test runs, none is
# taken from the cache. The VM tests (e2e) run last and alone: on two
# cores, QEMU's TCG sharing the machine with other packages' tests starves
# the appliance of the throughput its tests measure against.
test: export CI := 1
test: deps libusb testsummary
	@scripts/install-test-servers
	$(GO) vet ./...
	$(GO) mod tidy -diff
	set -o pipefail; { $(GO) test -json -count=1 -timeout 30m $$($(GO) list ./... | grep -v '/e2e$$'); \
		$(GO) test -json -count=1 -timeout 75m ./e2e/; } | $(TESTSUMMARY)

# Power cuts: the appliance VM loses power CUTS times at random instants
# (captures, store commits, uploads, retention) and boots again on the same
# disk; the log ends with a table of cuts, photos, lost, duplicated and
# corrupt. make test runs 4, one aimed at each phase. About 40 s a cut on two cores.
# Then the appliance works for SOAK (a 2 MB picture every 5 s, sent to
# cloudd) while every service's resident memory is sampled each minute:
# none may grow by more than 1 MiB from the sixth of the run to its end.
CUTS ?= 100
SOAK ?= 1h
soak: deps libusb
	$(GO) test -run '^(TestPowerCut|TestSoak)$$' -count=1 -v -timeout 0 ./e2e/ -cuts=$(CUTS) -soak=$(SOAK)

# Unit tests only: no image builds, no VMs; skips are allowed.
test-short: testsummary
	set -o pipefail; $(GO) test -json -short ./... | $(TESTSUMMARY) -ci=false

.PHONY: testsummary
testsummary:
	@$(GO) build -o $(TESTSUMMARY) ./internal/cmd/testsummary

# Runs every fuzz target for FUZZTIME (make fuzz FUZZTIME=5m) and prints
# the executions of each; what a target finds is saved under its
# package's testdata/fuzz and fails the run.
fuzz:
	@GO=$(GO) scripts/fuzz $(FUZZTIME)

# Every figure of README.md's measurements table, each against the reference
# measured in the same run, and their ratio: internal/cmd/benchtable runs each
# command of its list once (its output in build/bench/NAME.txt, under the date,
# go version, nproc and load average), prints the table and writes it to
# build/bench.md; it fails, after writing the table, when a figure is not
# measured. BACKLOG_CELLS picks the backlog drain's cells; BENCH_RUN, a regular
# expression, the commands run (go run ./internal/cmd/benchtable -list names
# them), the others' outputs read from build/bench/. Copy the table into
# README.md with go run ./internal/cmd/benchtable -readme README.md.
BENCH_RUN ?= .
bench: deps libusb
	@scripts/install-test-servers
	BACKLOG_CELLS='$(BACKLOG_CELLS)' $(GO) run ./internal/cmd/benchtable -run '$(BENCH_RUN)'

# The table of make bench again, from the outputs in build/bench/: nothing runs.
bench-table:
	$(GO) run ./internal/cmd/benchtable -from build/bench

fmt:
	gofmt -l -w .

clean:
	rm -rf build

# appliance/process against ImageMagick on an 18 MP photo: time and peak RSS.
.PHONY: bench-process
bench-process:
	scripts/bench-process

# The processing and PTP benchmarks built for arm64 and run under QEMU user
# emulation beside amd64; the arm64 build's tests and outputs are checked.
.PHONY: bench-arm64
bench-arm64:
	scripts/bench-arm64
