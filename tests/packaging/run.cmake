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
# Debug: -O0 compiles the Beast-heavy parts several times faster; this test is about packaging, not speed.
set(common -G ${GENERATOR} -DCMAKE_BUILD_TYPE=Debug)
if(MODE STREQUAL "find_package")
  set(prefix ${WORK_DIR}/prefix)
  file(REMOVE_RECURSE ${prefix} ${WORK_DIR}/relaylink-build)
  run(${CMAKE_COMMAND} ${common} -S ${SOURCE_DIR} -B ${WORK_DIR}/relaylink-build -DCMAKE_INSTALL_PREFIX=${prefix}
      -DRELAYLINK_BUILD_TESTS=OFF -DRELAYLINK_BUILD_EXAMPLES=OFF -DRELAYLINK_BUILD_BENCH=OFF)
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/relaylink-build --target install)
  run(${CMAKE_COMMAND} ${common} -S ${consumer} -B ${build} -DCMAKE_PREFIX_PATH=${prefix})
else()
  run(${CMAKE_COMMAND} ${common} -S ${consumer} -B ${build} -DRELAYLINK_CONSUMER_MODE=add_subdirectory
      -DRELAYLINK_SOURCE_DIR=${SOURCE_DIR})
endif()
run(${CMAKE_COMMAND} --build ${build} --target consumer)
run(${build}/consumer)
message(STATUS "consumer built through ${MODE} and ran")
