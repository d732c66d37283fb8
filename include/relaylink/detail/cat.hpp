// Text joined in one allocation: `a + b + c…` on std::string reallocates as the result grows, which
// on the event path (an audit detail per event) costs more than the rest of building it.
#pragma once

#include <string>
#include <string_view>

namespace relaylink::detail {

/// The pieces, one after the other (each anything a std::string_view can be made of).
template <class... T>
std::string cat(const T&... pieces) {
    const std::string_view views[] = {std::string_view(pieces)...};
    std::size_t n = 0;
    for (const auto v : views) n += v.size();
    std::string out;
    out.reserve(n);
    for (const auto v : views) out.append(v);
    return out;
}

} // namespace relaylink::detail
