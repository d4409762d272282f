# The README's two commands: `make demo` and `make test`.
SWIFT ?= swift
BIN = .build/debug/evalengine

# docs-check: the docs against the code (CLI flags, config fields, metrics, routes), both ways.
.PHONY: deps build demo demo-judge demo-shadow serve test docs-check reliability reliability-long release bench bench-guard clean

deps:
	bash scripts/install-deps.sh

build: deps
	$(SWIFT) build

# Runs the QA golden set (250 cases) against the built-in simulated endpoint, gated.
demo: build
	$(BIN) eval --golden golden-sets/qa/cases.jsonl --prompt golden-sets/qa/prompt.yaml \
		--endpoint sim --gate configs/gates/qa.yaml --report out/demo-report.json --junit out/demo-junit.xml

# A judged golden set (200 free-text cases: llm-rubric, factuality, model-graded-closedqa) graded by the
# simulated judge; judge calls, tokens and cost are reported apart. A second run makes no judge call.
demo-judge: build
	$(BIN) eval --golden golden-sets/judged/cases.jsonl --prompt golden-sets/judged/prompt.yaml \
		--endpoint sim --judge-endpoint sim-judge --gate configs/gates/judged.yaml \
		--report out/judged-report.json --junit out/judged-junit.xml

# Shadow-compares a cheaper second deployment of the model against sim on the QA golden set.
demo-shadow: build
	$(BIN) shadow-compare --cases golden-sets/qa/cases.jsonl --baseline-prompt golden-sets/qa/prompt.yaml \
		--baseline sim --candidate sim-candidate --gate configs/gates/shadow.yaml \
		--report out/shadow-report.json --html out/shadow-report.html

# The HTTP service for Argo on :8080 (configs/service.yaml), simulated endpoints in-process.
serve: build
	$(BIN) serve --config configs/service.yaml

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	python3 scripts/crosscheck-trec.py --queries 5000 --bin $(BIN)
	python3 scripts/crosscheck-index-test.py --bin $(BIN)
	python3 scripts/check-html-report.py --bin $(BIN)
	python3 scripts/check-ui.py --bin $(BIN)
	python3 scripts/check-service.py --bin $(BIN)
	python3 scripts/check-argo.py
	python3 scripts/check-observability.py
	python3 scripts/check-store-lock.py --bin $(BIN)

docs-check: build
	python3 scripts/docs-check.py --bin $(BIN)

# The reliability suite (docs/RELIABILITY.md): parser fuzzing, hostile requests, disk full, kill -9
# loop (50 kills), soak (120 s). The fault matrix is part of `make test` (FaultMatrixTests).
reliability: deps
	$(SWIFT) build
	bash scripts/fuzz.sh
	python3 scripts/check-reliability.py --bin $(BIN)

# The local long variant: 1,000,000 inputs per parser, 200 kills, a 10-minute soak (~40 min).
reliability-long: deps
	$(SWIFT) build -c release
	BIN=.build/release/evalengine ITERATIONS=1000000 bash scripts/fuzz.sh
	python3 scripts/check-reliability.py --long --bin .build/release/evalengine

# package-benchmark suites (Benchmarks/, a nested package): wall clock, mallocs, throughput.
bench: deps
	cd Benchmarks && swift package --disable-sandbox benchmark

# The regression guard: malloc counts against Benchmarks/Thresholds/*.p90.json, then instruction
# counts under callgrind against Benchmarks/Thresholds/instructions.json (exit 1 on a regression).
# Refresh after an intended change:
#   cd Benchmarks && BENCHMARK_CI=1 swift package --disable-sandbox --allow-writing-to-package-directory benchmark thresholds update
#   python3 scripts/bench-instructions.py --update
bench-guard: deps
	cd Benchmarks && BENCHMARK_CI=1 swift package --disable-sandbox benchmark thresholds check --no-progress
	python3 scripts/bench-instructions.py

release: deps
	$(SWIFT) build -c release

clean:
	rm -rf .build out
