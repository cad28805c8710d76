# CMake toolchain for 64-bit arm boards (Debian arm64, e.g. Raspberry Pi 4/5 with a 64-bit OS).
#   scripts/sysroot --arch arm64
#   cmake -S . -B build/aarch64 -G Ninja --toolchain cmake/toolchains/aarch64.cmake \
#         -DFOGBRIDGE_BUILD_GATEWAY=OFF
# Needs g++-aarch64-linux-gnu and, to run tests, qemu-user (scripts/cross-test installs both).
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(FOGBRIDGE_CROSS_TRIPLE aarch64-linux-gnu)
set(FOGBRIDGE_CROSS_ARCH arm64)
set(FOGBRIDGE_CROSS_QEMU qemu-aarch64)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
