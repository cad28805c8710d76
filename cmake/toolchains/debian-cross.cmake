# Shared part of the arm toolchain files: Debian's cross compilers (g++-<triple>) against a
# Debian sysroot made by scripts/sysroot, and qemu-user to run the test programs.
# Expects FOGBRIDGE_CROSS_TRIPLE, FOGBRIDGE_CROSS_ARCH (Debian's name) and FOGBRIDGE_CROSS_QEMU
# from the including file. The sysroot is -DFOGBRIDGE_SYSROOT=DIR, else $FOGBRIDGE_SYSROOT,
# else /var/tmp/fogbridge-sysroot/<arch> (the default of scripts/sysroot).
set(CMAKE_SYSTEM_NAME Linux)

if(NOT FOGBRIDGE_SYSROOT)
    if(DEFINED ENV{FOGBRIDGE_SYSROOT})
        set(FOGBRIDGE_SYSROOT "$ENV{FOGBRIDGE_SYSROOT}")
    else()
        set(FOGBRIDGE_SYSROOT "/var/tmp/fogbridge-sysroot/${FOGBRIDGE_CROSS_ARCH}")
    endif()
endif()
if(NOT EXISTS "${FOGBRIDGE_SYSROOT}/usr/include")
    message(FATAL_ERROR "no sysroot at ${FOGBRIDGE_SYSROOT}: run scripts/sysroot --arch ${FOGBRIDGE_CROSS_ARCH}")
endif()
# try_compile projects read this file again; hand them the resolved sysroot.
set(FOGBRIDGE_SYSROOT "${FOGBRIDGE_SYSROOT}" CACHE PATH "sysroot of the target board")
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES FOGBRIDGE_SYSROOT)

set(CMAKE_SYSROOT "${FOGBRIDGE_SYSROOT}")
set(CMAKE_C_COMPILER ${FOGBRIDGE_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${FOGBRIDGE_CROSS_TRIPLE}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${FOGBRIDGE_CROSS_TRIPLE})

# Libraries, headers and package configs only from the sysroot; programs from the host.
set(CMAKE_FIND_ROOT_PATH "${FOGBRIDGE_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config (libmosquitto) reads the board's .pc files and prefixes their paths with the sysroot.
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${FOGBRIDGE_SYSROOT}")
set(ENV{PKG_CONFIG_LIBDIR}
    "${FOGBRIDGE_SYSROOT}/usr/lib/${FOGBRIDGE_CROSS_TRIPLE}/pkgconfig:${FOGBRIDGE_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# Test programs run under qemu-user with the sysroot's loader and libraries (`-L sysroot`; the
# cross packages' /usr/<triple> can hang C++ programs), always under a timeout.
set(CMAKE_CROSSCOMPILING_EMULATOR timeout;--kill-after=10;600;${FOGBRIDGE_CROSS_QEMU};-L;${FOGBRIDGE_SYSROOT})
