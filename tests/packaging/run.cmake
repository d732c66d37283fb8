# Builds tests/packaging/consumer against relaylink, either installed (find_package) or as a
# subdirectory, runs it, and fails when any step fails.
set(consumer ${CMAKE_CURRENT_LIST_DIR}/consumer)
set(build ${WORK_DIR}/${MODE})
file(REMOVE_RECURSE ${build})
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "step failed (${rc}): ${ARGN}\n${out}")
  endif()
endfunction()
if(BUILD_TYPE AND LAUNCHER)
  # Built like the build under test (its type, flags, compiler and -Werror) through its ccache: add_subdirectory's
  # compilation of every library is served from that build's.
  string(TOUPPER "${BUILD_TYPE}" cfg)
  set(common -G ${GENERATOR} -DCMAKE_BUILD_TYPE=${BUILD_TYPE} "-DCMAKE_CXX_FLAGS_${cfg}=${CONFIG_FLAGS}"
      "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}" -DCMAKE_CXX_COMPILER=${CXX} -DRELAYLINK_WERROR=${WERROR}
      -DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER})
else()
  # No ccache: Debug, whose -O0 compiles the Beast-heavy parts several times faster (this test is about packaging).
  set(common -G ${GENERATOR} -DCMAKE_BUILD_TYPE=Debug)
  if(LAUNCHER)
    list(APPEND common -DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER})
  endif()
endif()
if(MODE STREQUAL "find_package")
  set(prefix ${WORK_DIR}/prefix)
  file(REMOVE_RECURSE ${prefix} ${WORK_DIR}/relaylink-build)
  if(BINARY_DIR)
    # the build under test has compiled everything already: install it (saves a whole library build)
    run(${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${prefix})
  else()
    run(${CMAKE_COMMAND} ${common} -S ${SOURCE_DIR} -B ${WORK_DIR}/relaylink-build -DCMAKE_INSTALL_PREFIX=${prefix}
        -DRELAYLINK_BUILD_TESTS=OFF -DRELAYLINK_BUILD_EXAMPLES=OFF -DRELAYLINK_BUILD_BENCH=OFF)
    run(${CMAKE_COMMAND} --build ${WORK_DIR}/relaylink-build --target install)
  endif()
  run(${CMAKE_COMMAND} ${common} -S ${consumer} -B ${build} -DCMAKE_PREFIX_PATH=${prefix})
else()
  run(${CMAKE_COMMAND} ${common} -S ${consumer} -B ${build} -DRELAYLINK_CONSUMER_MODE=add_subdirectory
      -DRELAYLINK_SOURCE_DIR=${SOURCE_DIR})
endif()
run(${CMAKE_COMMAND} --build ${build} --target consumer)
run(${build}/consumer)
message(STATUS "consumer built through ${MODE} and ran")
