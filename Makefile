# The README's two commands (make run, make test) plus conveniences. CMake does the building.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all build asan bootstrap run test test-unit test-asan test-node fuzz clean install

all: build

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) 2>&1 | grep -v -E '^\[ *[0-9]+%\]|^-- ' || true
	@test -f $(BUILD)/unit_tests

asan:
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DGUN_SANITIZE=address,undefined $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS) 2>&1 | grep -v -E '^\[ *[0-9]+%\]|^-- ' || true
	@test -f $(ASAN_BUILD)/unit_tests

bootstrap:
	@scripts/bootstrap

# Until the relay lands (issue 3) this runs the library's basic example.
run: bootstrap build
	@if [ -x $(BUILD)/gun ] && $(BUILD)/gun relay --help >/dev/null 2>&1; then \
	  exec $(BUILD)/gun relay --port 8765 --data ./radata; \
	else \
	  echo "make run: the relay is not built yet; running examples/basic"; \
	  $(BUILD)/basic; \
	fi

test: bootstrap build asan
	@$(MAKE) --no-print-directory test-unit test-asan test-node

test-unit:
	@echo "== unit tests (Criterion)"
	@$(BUILD)/unit_tests --jobs $(JOBS)

test-asan:
	@echo "== unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(ASAN_BUILD)/unit_tests --jobs $(JOBS)

test-node:
	@echo "== interop tests (node --test, real gun@0.2020.1241)"
	@GUN_BUILD=$(abspath $(BUILD)) node --test --test-concurrency=2 tests/interop/

install: build
	@cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
