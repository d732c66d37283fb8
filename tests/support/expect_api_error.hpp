// Test helper: run a call that must fail with chirpstack::api_error, and return that error.
#pragma once

#include <relaylink/chirpstack/error.hpp>

#include <gtest/gtest.h>

namespace relaylink::test {

template <class F>
chirpstack::api_error expect_api_error(F f) {
    try {
        f();
    } catch (const chirpstack::api_error& e) {
        return e;
    }
    ADD_FAILURE() << "no api_error was thrown";
    return chirpstack::api_error({}, {});
}

} // namespace relaylink::test
