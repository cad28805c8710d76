#!/usr/bin/env bash
# The device SDK as a user gets it: `cmake --install` into a fresh prefix, then a small program
# (tests/container/sdk_consumer) configured out of tree with find_package(fogbridge_sdk),
# built, and run through ctest (under qemu-user when a cross toolchain is given).
#
# usage: tests/container/sdk_install_test.sh [--build-dir DIR] [--toolchain FILE]
#   --build-dir DIR   install this configured and built tree (top level or device-sdk alone);
#                     without it the SDK is built on its own from device-sdk/ (native)
#   --toolchain FILE  build the consumer with this CMake toolchain (cmake/toolchains/*.cmake)
#   --linker-flags F  link the consumer with these flags (a sanitizer build's runtime)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=""
toolchain=()
linker_flags=""
while [ $# -gt 0 ]; do
    case "$1" in
        --build-dir) build_dir=$2; shift 2 ;;
        --toolchain) toolchain=(--toolchain "$(realpath "$2")"); shift 2 ;;
        --linker-flags) linker_flags=$2; shift 2 ;;
        *) echo "sdk_install_test: unknown argument '$1'" >&2; exit 2 ;;
    esac
done

work=$(mktemp -d /tmp/fogbridge-sdk-install.XXXXXX)
trap 'rm -rf "$work"' EXIT
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)

if [ -z "$build_dir" ]; then
    build_dir=$work/sdk-build
    cmake -S "$root/device-sdk" -B "$build_dir" "${generator[@]}" "${toolchain[@]}" \
        -DCMAKE_BUILD_TYPE=Release >"$work/sdk-configure.log" 2>&1 \
        || { cat "$work/sdk-configure.log"; exit 1; }
    cmake --build "$build_dir" >"$work/sdk-build.log" 2>&1 || { tail -30 "$work/sdk-build.log"; exit 1; }
fi
cmake --install "$build_dir" --prefix "$work/prefix" >"$work/install.log" 2>&1 \
    || { cat "$work/install.log"; exit 1; }
config=$(find "$work/prefix" -name fogbridge_sdkConfig.cmake -print -quit)
[ -n "$config" ] || { echo "sdk_install_test: no fogbridge_sdkConfig.cmake was installed" >&2; exit 1; }
for f in include/fogbridge/device_client.hpp; do
    [ -f "$work/prefix/$f" ] || { echo "sdk_install_test: $f was not installed" >&2; exit 1; }
done

# Natively the prefix is found like any other (CMAKE_PREFIX_PATH); a cross toolchain searches
# only its sysroot, so there the package directory is named directly.
if [ ${#toolchain[@]} -eq 0 ]; then
    find_args=(-DCMAKE_PREFIX_PATH="$work/prefix")
else
    find_args=(-Dfogbridge_sdk_DIR="$(dirname "$config")")
fi
cmake -S "$root/tests/container/sdk_consumer" -B "$work/consumer" "${generator[@]}" "${toolchain[@]}" \
    "${find_args[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_EXE_LINKER_FLAGS="$linker_flags" \
    >"$work/consumer-configure.log" 2>&1 \
    || { cat "$work/consumer-configure.log"; exit 1; }
cmake --build "$work/consumer" >"$work/consumer-build.log" 2>&1 \
    || { cat "$work/consumer-build.log"; exit 1; }
ctest --test-dir "$work/consumer" --output-on-failure --timeout 300
echo "sdk_install_test: installed SDK found with find_package, linked and ran (${toolchain[1]:-native})"
