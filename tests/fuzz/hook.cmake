# tests/fuzz/hook.cmake — turns the top-level fanzha build into a libFuzzer
# build, without touching the top-level CMakeLists.txt.
#
# tools/fuzz configures the repository root into build-fuzz/ with clang and
#   -DCMAKE_PROJECT_fanzha_INCLUDE=<this file>
# CMake includes this file right after the root's project() call, so the
# flags below apply to every target the root defines afterwards: libfanzha
# (and the build-time generators, which are harmless to instrument) get
# coverage instrumentation plus ASan and UBSan. The fuzz targets themselves
# are added by tests/fuzz/targets.cmake, included at the end of the root's
# processing (deferred: the `fanzha` library target exists by then, and
# deferred code may include files but not add sub-directories). A standalone
# project doing add_subdirectory(<root>) does not work: the root names its
# files through CMAKE_SOURCE_DIR.
if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "the fuzz build needs clang (cmake -DCMAKE_C_COMPILER=clang), not ${CMAKE_C_COMPILER_ID}")
endif()

# fuzzer-no-link: coverage instrumentation for libFuzzer without its main();
# only the fuzz executables link the fuzzer runtime. UB aborts (no recovery)
# so that libFuzzer records it as a crash.
add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                    -fno-omit-frame-pointer -g)
add_link_options(-fsanitize=address,undefined)

# (Deferred arguments are expanded when the call runs, hence the variable.)
set(FANZHA_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR})
cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL include ${FANZHA_FUZZ_DIR}/targets.cmake)
