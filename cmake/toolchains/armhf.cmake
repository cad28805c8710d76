# CMake toolchain for 32-bit arm boards with hardware float (Debian armhf: ARMv7, e.g. a
# Raspberry Pi 2/3 with a 32-bit OS, BeagleBone).
#   scripts/sysroot --arch armhf
#   cmake -S . -B build/armhf -G Ninja --toolchain cmake/toolchains/armhf.cmake \
#         -DFOGBRIDGE_BUILD_GATEWAY=OFF
# Needs g++-arm-linux-gnueabihf and, to run tests, qemu-user (scripts/cross-test installs both).
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(FOGBRIDGE_CROSS_TRIPLE arm-linux-gnueabihf)
set(FOGBRIDGE_CROSS_ARCH armhf)
set(FOGBRIDGE_CROSS_QEMU qemu-arm)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
