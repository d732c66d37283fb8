// ChirpStack errors as relaylink.ChirpStackError: shared by the client and the service bindings.
#pragma once

#include "common.hpp"

#include <relaylink/chirpstack/error.hpp>

namespace relaylink::python {

/// relaylink's name for an error ("not_found", "timeout", "connection_refused"...).
std::string chirpstack_error_name(const error_code& ec);
/// A ChirpStackError instance (not raised).
py::object make_chirpstack_error(const error_code& ec, const chirpstack::diagnostics& d);

} // namespace relaylink::python
