// The message of the store_error `f` throws, or "(no error)": the store tests compare what a person reads.
#pragma once

#include <relaylink/store/store.hpp>

#include <functional>
#include <string>

namespace relaylink::test {

inline std::string store_error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const store::store_error& e) {
        return e.what();
    }
    return "(no error)";
}

} // namespace relaylink::test
