# tests/fuzz/targets.cmake — one libFuzzer executable per tests/fuzz/fuzz_*.c.
#
# Included at the end of the root build by hook.cmake (see there), once the
# `fanzha` library target is defined and with the instrumentation flags
# already set. A new fuzz_<name>.c is picked up by the glob (re-run cmake);
# its seeds go in corpus/<name>/. Built and run by tools/fuzz.
set(FUZZ_DIR ${FANZHA_FUZZ_DIR})
file(GLOB FUZZ_TARGETS CONFIGURE_DEPENDS ${FUZZ_DIR}/fuzz_*.c)
foreach(src ${FUZZ_TARGETS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src} ${FUZZ_DIR}/fuzzutil.c)
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/engine ${FUZZ_DIR})
  target_link_libraries(${name} PRIVATE fanzha)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
endforeach()
