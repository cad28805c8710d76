# CMake toolchain for Cortex-M microcontrollers (bare metal, newlib), e.g. the device SDK's core
# and the reference firmware in device-sdk/firmware/mps2:
#   cmake -S device-sdk/firmware/mps2 -B build/mcu -G Ninja --toolchain cmake/toolchains/cortex-m.cmake
# FOGBRIDGE_MCU_CPU picks the core (cortex-m4 by default; cortex-m3, cortex-m0plus, cortex-m33).
# Needs Debian's gcc-arm-none-eabi, libnewlib-arm-none-eabi and libstdc++-arm-none-eabi-newlib.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_CXX_COMPILER arm-none-eabi-g++)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
set(CMAKE_AR arm-none-eabi-ar)
set(CMAKE_RANLIB arm-none-eabi-ranlib)
set(CMAKE_SIZE arm-none-eabi-size)
# No OS to link a test program against while CMake probes the compiler.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

if(NOT FOGBRIDGE_MCU_CPU)
    set(FOGBRIDGE_MCU_CPU cortex-m4)
endif()
set(FOGBRIDGE_MCU_CPU ${FOGBRIDGE_MCU_CPU} CACHE STRING "Cortex-M core (-mcpu)")
# Soft float: the SDK computes in double, which no Cortex-M4 FPU does in hardware anyway.
set(CMAKE_C_FLAGS_INIT "-mcpu=${FOGBRIDGE_MCU_CPU} -mthumb -mfloat-abi=soft -ffunction-sections -fdata-sections")
set(CMAKE_CXX_FLAGS_INIT "${CMAKE_C_FLAGS_INIT}")
set(CMAKE_ASM_FLAGS_INIT "${CMAKE_C_FLAGS_INIT}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,--gc-sections")

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
