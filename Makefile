# Thin wrapper over the scripts (the README's two commands work without make).
.PHONY: all up test build clean format
all: build
build:
	./scripts/build.sh
up:
	./scripts/up.sh
test:
	./scripts/test.sh
format:
	git ls-files '*.c' '*.h' | xargs clang-format -i
clean:
	rm -rf build build-asan
