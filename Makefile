# make test    install the pinned tools, then run every test against a real
#              MinIO, timestamp-server and cosign (scripts/test.sh); TEST_FLAGS='-run X -v' and
#              TEST_PKGS='./storage/...' narrow it
# make check   the fast loop (under 2 minutes on 2 cores): gofmt, go vet and
#              go test -short ./..., which skips the proofs that need MinIO,
#              the timestamp-server, cosign or outside programs
# make tools   install MinIO, cosign and timestamp-server into .tools/bin (scripts/tools.sh)
# make vet     gofmt and go vet
# make build   build ./exhibit
# make demo    the main job on the embedded default: init a throwaway archive
#              folder in .demo/, ingest docs/ as a case, verify everything
# make bench   large-file ingest versus cp and a raw PutObject, then the photo
#              benchmarks below (docs/performance.md)
# make bench-photos
#              2,000 real camera photos: extraction versus exiftool, ingest
#              versus an exiftool + sha256sum + cosign loop (BENCH_PHOTOS=N)
# make bench-verify
#              verify --all over 4,000 small items against sha256sum of the
#              same stored objects (BENCH_ITEMS, BENCH_KB, BENCH_RUNS)
# make bench-worker
#              1,000 photos through a worker's folder job against exhibit
#              ingest of the same folder (BENCH_PHOTOS=N, BENCH_RUNS=N)
# make bench-export
#              exhibit export of 1,000 photos versus cp -r of the same payload,
#              and verify-export's time per item (BENCH_PHOTOS=N, BENCH_RUNS=N)
# make bench-scale
#              1, 2 and 3 workers on PostgreSQL with MinIO, the same photos
# make bench-acquire
#              web capture against a bare headless screenshot (four at once
#              too), a 200 MB response through the recording proxy against a
#              direct download, a 500 MB satellite asset against curl -o, a
#              1,000-item search (docs/performance.md)
# make fuzz    every go test -fuzz target for FUZZTIME (default 30s) each,
#              minimizing new inputs for FUZZMINIMIZETIME (default 2s)

SHELL := bash
GO ?= go
export GOTOOLCHAIN := local
export TEST_FLAGS TEST_PKGS

.PHONY: test check tools vet build demo bench bench-photos bench-verify bench-worker bench-scale bench-acquire bench-export fuzz

test: vet tools
	scripts/test.sh

check: vet
	$(GO) test -short -count=1 -timeout 10m ./...

tools:
	scripts/tools.sh

vet:
	@unformatted="$$(gofmt -l .)"; \
	if [[ -n "$$unformatted" ]]; then echo "gofmt -l: these files need gofmt -w:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

build:
	$(GO) build -o exhibit ./cmd/exhibit

demo:
	$(GO) build -o .demo/exhibit ./cmd/exhibit
	@export EXHIBIT_HOME="$$PWD/.demo/home" EXHIBIT_PASSWORD=demo-passphrase; \
	if [[ ! -f .demo/home/config.yaml ]]; then \
		.demo/exhibit init --archive .demo/archive --operator "Demo Operator" || exit; \
	fi; \
	.demo/exhibit ingest --case demo docs README.md && \
	.demo/exhibit ls --case demo && \
	.demo/exhibit verify --case demo

bench: tools
	scripts/bench.sh
	scripts/bench-photos.sh

bench-photos: tools
	scripts/bench-photos.sh

bench-worker: tools
	scripts/bench-worker.sh

bench-scale: tools
	scripts/bench-scale.sh

bench-verify:
	scripts/bench-verify.sh

bench-export:
	scripts/bench-export.sh

bench-acquire: tools
	$(GO) test -run '^$$' -bench Capture -benchtime 5x ./acquire/web
	$(GO) test -run '^$$' -bench Download -benchtime 5x ./acquire/web/proxy
	$(GO) test -run '^$$' -bench 'Asset|Search' -benchtime 3x ./acquire/stac

fuzz:
	scripts/fuzz.sh
