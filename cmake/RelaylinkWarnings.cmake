# relaylink_warnings(target): the project's warning set; -Werror when RELAYLINK_WERROR is on (CI).
function(relaylink_warnings target)
  get_target_property(type ${target} TYPE)
  set(scope PRIVATE)
  if(type STREQUAL "INTERFACE_LIBRARY")
    set(scope INTERFACE)
  endif()
  target_compile_options(${target} ${scope} -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion
    -Wno-missing-field-initializers)  # configs are aggregates set with designated initializers
  if(RELAYLINK_WERROR)
    target_compile_options(${target} ${scope} -Werror)
  endif()
endfunction()
