# A thin wrapper over CMake; see README.md.
BUILD   ?= build
ASAN    ?= build-asan
JOBS    ?= $(shell nproc)
PREFIX  ?= /usr/local
DEB_BUILD ?= build-deb

.PHONY: all deps build asan test test-fast run install deb bench bench-http bench-pg bench-ingest bench-numbers bench-scale bench-crash bench-long coverage fuzz clean

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

asan: deps
	@cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DPT_SANITIZE=ON -DPT_BUILD_BENCH=OFF >/dev/null
	@cmake --build $(ASAN) -j $(JOBS)

# Every test, in the optimised build and again under ASan+UBSan.
test: build asan
	@./scripts/install-deps.sh test
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	@cd $(ASAN) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS)

test-fast: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

run: build
	@./scripts/run.sh $(BUILD)

# The library (shared and static), pipetrack.h, pipetrack.pc, both programs,
# man pages, pipetrackd.service and its options file under PREFIX (the tree
# is configured for it: paths in the unit and the .pc), staged in DESTDIR
# when set: make install PREFIX=/usr DESTDIR=/tmp/stage
install: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)
	@DESTDIR="$(DESTDIR)" cmake --install $(BUILD)

# pipetrack_<version>_<arch>.deb and libpipetrack-dev_<version>_<arch>.deb in
# $(DEB_BUILD)/, built in a tree of their own configured for /usr
deb: deps
	@./scripts/deb.sh $(DEB_BUILD) $(JOBS)

bench: build
	@./bench/run.sh $(BUILD)

# pipetrackd over HTTP beside the seed design on Node and nginx (wrk, loopback)
bench-http: build
	@./bench/http.sh $(BUILD)

# PostgreSQL: in-process against raw libpq, POST track on 1 and 3 servers
# (nginx) against SQLite, cross-server stream latency (a throwaway cluster)
bench-pg: build
	@./bench/pg.sh $(BUILD)

# Issue 13's ingest: in-process batched against raw SQLite, POST /track/batch
# (wrk, loopback, -c1/4/16) against in-process, rounds alternated
bench-ingest: build
	@./bench/ingest.sh $(BUILD)

# Reads at 10,000 sessions against N (PT_SCALE_SESSIONS, default 1,000,000):
# the stores are built once in $(BUILD)/bench-scale and reused
bench-scale: build
	@./bench/scale.sh $(BUILD)

# A 3.8 MB status and report streamed with each --conn-buffer against sent whole
bench-long: build
	@python3 bench/long_answers.py $(BUILD)/pipetrackd

# kill -9 under mixed load, 20 times (KILLS=N): nothing acknowledged lost
bench-crash: build
	@./bench/crash.sh $(BUILD)

# Number spelling: speed, and 10 million random doubles against the oracles
bench-numbers: build
	@./bench/numbers.sh $(BUILD)

# Line and branch coverage of src/ by every test (gcov, gcovr): an HTML
# report in build-cov/coverage/index.html and a summary printed
coverage: deps
	@./scripts/install-deps.sh coverage
	@cmake -S . -B build-cov -DCMAKE_BUILD_TYPE=Debug -DPT_COVERAGE=ON -DPT_BUILD_BENCH=OFF >/dev/null
	@cmake --build build-cov -j $(JOBS)
	@find build-cov -name '*.gcda' -delete
	@cd build-cov && ctest -j $(JOBS) >ctest.log 2>&1 || { tail -20 ctest.log; exit 1; }
	@mkdir -p build-cov/coverage
	@gcovr -r . --object-directory build-cov --filter 'src/' --exclude 'src/core/pow5_table.h' --gcov-ignore-parse-errors \
	  --html-details build-cov/coverage/index.html --print-summary -j $(JOBS) \
	  | tee build-cov/coverage/summary.txt

# Bounded libFuzzer run of each target (clang), e.g. FUZZ_SECONDS=600 make fuzz;
# FUZZ_TARGETS="event canon" make fuzz runs some; FUZZ_RUNS=N stops each at N
# executions (the campaign: FUZZ_RUNS=10000000 FUZZ_SECONDS=3600 make fuzz). Each target's corpus grows in
# build-fuzz/corpus-<target> (seeded from fuzz/corpus/<target>); a crash leaves
# its input as build-fuzz/crash-<target>-*.
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?= -1
FUZZ_TARGETS ?= jparse number event canon defs import query request check
fuzz: deps
	@./scripts/install-deps.sh fuzz
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DPT_SANITIZE=ON -DPT_FUZZ=ON \
	  -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link \
	  -DPT_BUILD_BENCH=OFF -DPT_BUILD_TESTS=OFF >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target $(addprefix fuzz_,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p build-fuzz/corpus-$$t; \
	  cp -n fuzz/corpus/$$t/* build-fuzz/corpus-$$t/ 2>/dev/null || true; \
	  case $$t in number) len=8;; request|import) len=16384;; *) len=4096;; esac; \
	  echo "fuzz_$$t: $(FUZZ_SECONDS) s"; \
	  ./build-fuzz/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -runs=$(FUZZ_RUNS) -max_len=$$len \
	    -artifact_prefix=build-fuzz/crash-$$t- -print_final_stats=1 build-fuzz/corpus-$$t \
	    2>build-fuzz/fuzz_$$t.log || { tail -40 build-fuzz/fuzz_$$t.log; exit 1; }; \
	  grep -E '^stat::(number_of_executed_units|average_exec_per_sec)' build-fuzz/fuzz_$$t.log; \
	done

clean:
	rm -rf $(BUILD) $(ASAN) build-fuzz $(DEB_BUILD)
