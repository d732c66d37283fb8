// relaylink._core.modbus: the codec, with bytes in and out and ModbusError for what it refuses.
#include "bindings.hpp"
#include "common.hpp"

#include <relaylink/modbus.hpp>

namespace relaylink::python {

namespace mb = relaylink::modbus;

namespace {

constexpr const char* errc_names[] = {"",
                                      "invalid_slave",
                                      "broadcast_read",
                                      "invalid_quantity",
                                      "address_overflow",
                                      "invalid_coil_value",
                                      "unsupported_function",
                                      "truncated",
                                      "frame_too_long",
                                      "trailing_bytes",
                                      "crc_mismatch",
                                      "wrong_slave",
                                      "unexpected_function",
                                      "byte_count_mismatch",
                                      "echo_mismatch",
                                      "invalid_exception_code",
                                      "no_reply_expected",
                                      "invalid_request"};
static_assert(std::size(errc_names) == static_cast<std::size_t>(mb::errc::invalid_request) + 1);

[[noreturn]] void raise_modbus(const error_code& ec, const std::string& context = {}) {
    std::string name = ec.category() == mb::error_category() && ec.value() > 0 &&
                               ec.value() < static_cast<int>(std::size(errc_names))
                           ? errc_names[ec.value()]
                           : "unknown";
    raise("ModbusError", context.empty() ? ec.message() : context + ": " + ec.message(), py::dict(py::arg("code") = name));
}

template <class T>
T unwrap(result<T> r, const std::string& context = {}) {
    if (!r) raise_modbus(r.error(), context);
    return std::move(*r);
}

/// An int argument in range, or a ModbusError naming it (pybind11's own cast would wrap or say only
/// "incompatible function arguments").
long long checked(long long v, long long lo, long long hi, const char* what, const char* code) {
    if (v < lo || v > hi)
        raise(what, std::string(code) + " must be " + std::to_string(lo) + "-" + std::to_string(hi) + ", got " + std::to_string(v),
              py::dict(py::arg("code") = std::string("invalid_") + code));
    return v;
}
std::uint8_t slave_of(long long v) { return static_cast<std::uint8_t>(checked(v, 0, 255, "ModbusError", "slave")); }
std::uint16_t u16_of(long long v, const char* what) { return static_cast<std::uint16_t>(checked(v, 0, 65535, "ModbusError", what)); }

py::bytes frame_bytes(const mb::frame& f) { return to_py_bytes(f.bytes()); }

mb::word_order order_of(const std::string& s) {
    if (auto o = mb::word_order_from_name(s)) return *o;
    raise("ModbusError", "word_order must be 'high_word_first' or 'low_word_first', got '" + s + "'",
          py::dict(py::arg("code") = "invalid_word_order"));
}

std::vector<std::uint16_t> registers_of(const std::vector<long long>& v) {
    std::vector<std::uint16_t> out;
    out.reserve(v.size());
    for (auto x : v) out.push_back(u16_of(x, "register"));
    return out;
}

} // namespace

void bind_modbus(py::module_& m) {
    m.def("crc16", [](const py::handle& data) {
        auto b = to_bytes(data, "data");
        return mb::crc16(b);
    }, py::arg("data"), "CRC-16/MODBUS of `data` (the value; on the wire it goes low byte first).");
    m.def("crc_ok", [](const py::handle& frame) { return mb::crc_ok(to_bytes(frame, "frame")); }, py::arg("frame"),
          "True when the frame's last two bytes are the CRC of the rest.");
    m.def("with_crc", [](const py::handle& data) {
        auto b = to_bytes(data, "data");
        const auto crc = mb::crc16(b);
        b.push_back(static_cast<std::uint8_t>(crc & 0xFF));
        b.push_back(static_cast<std::uint8_t>(crc >> 8));
        return to_py_bytes(b);
    }, py::arg("data"), "`data` with its CRC appended (low byte first).");

    using read_fn = result<mb::frame> (*)(std::uint8_t, std::uint16_t, std::uint16_t);
    auto read = [&m](const char* name, read_fn f, const char* doc) {
        m.def(name, [f](long long slave, long long address, long long quantity) {
            return frame_bytes(unwrap(f(slave_of(slave), u16_of(address, "address"), u16_of(quantity, "quantity"))));
        }, py::arg("slave"), py::arg("address"), py::arg("quantity") = 1, doc);
    };
    read("read_coils", &mb::read_coils, "Function 01: read coils (the relay state on an SDM320C).");
    read("read_discrete_inputs", &mb::read_discrete_inputs, "Function 02: read discrete inputs.");
    read("read_holding_registers", &mb::read_holding_registers, "Function 03: read holding registers.");
    read("read_input_registers", &mb::read_input_registers, "Function 04: read input registers (measurements).");

    m.def("write_single_coil", [](long long slave, long long address, bool on) {
        return frame_bytes(unwrap(mb::write_single_coil(slave_of(slave), u16_of(address, "address"), on)));
    }, py::arg("slave"), py::arg("address"), py::arg("on"),
          "Function 05. write_single_coil(1, 0, False) is the SDM320C's relay OFF: 01 05 00 00 00 00 CD CA.");
    m.def("write_single_register", [](long long slave, long long address, long long value) {
        return frame_bytes(unwrap(mb::write_single_register(slave_of(slave), u16_of(address, "address"), u16_of(value, "value"))));
    }, py::arg("slave"), py::arg("address"), py::arg("value"), "Function 06.");
    m.def("write_multiple_coils", [](long long slave, long long address, const std::vector<bool>& coils) {
        std::vector<std::uint8_t> bits(coils.begin(), coils.end());
        return frame_bytes(unwrap(mb::write_multiple_coils<std::uint8_t>(slave_of(slave), u16_of(address, "address"), std::span<const std::uint8_t>(bits))));
    }, py::arg("slave"), py::arg("address"), py::arg("coils"), "Function 0F (15).");
    m.def("write_multiple_registers", [](long long slave, long long address, const std::vector<long long>& values) {
        auto regs = registers_of(values);
        return frame_bytes(unwrap(mb::write_multiple_registers(slave_of(slave), u16_of(address, "address"), regs)));
    }, py::arg("slave"), py::arg("address"), py::arg("values"), "Function 10 (16).");

    py::class_<mb::request>(m, "Request", "A request frame, described (see parse_request).")
        .def_readonly("slave", &mb::request::slave)
        .def_property_readonly("function", [](const mb::request& r) { return static_cast<int>(r.function); })
        .def_property_readonly("function_name", [](const mb::request& r) { return std::string(mb::to_string(r.function)); })
        .def_readonly("address", &mb::request::address)
        .def_readonly("quantity", &mb::request::quantity)
        .def_readonly("values", &mb::request::values)
        .def("__eq__", [](const mb::request& a, const mb::request& b) { return a == b; })
        .def("__repr__", [](const mb::request& r) {
            return "Request(slave=" + std::to_string(r.slave) + ", function=" + std::string(mb::to_string(r.function)) +
                   ", address=" + std::to_string(r.address) + ", quantity=" + std::to_string(r.quantity) + ")";
        });
    m.def("parse_request", [](const py::handle& frame) { return unwrap(mb::parse_request(to_bytes(frame, "frame"))); },
          py::arg("frame"), "Read a request frame back (checks its CRC and limits).");

    py::class_<mb::response>(m, "Response", "A device's reply, decoded against the request it answers.")
        .def_readonly("slave", &mb::response::slave)
        .def_property_readonly("function", [](const mb::response& r) { return static_cast<int>(r.function); })
        .def_property_readonly("function_name", [](const mb::response& r) { return std::string(mb::to_string(r.function)); })
        .def_property_readonly("exception", [](const mb::response& r) -> py::object {
            if (!r.exception) return py::none();
            return py::str(std::string(mb::to_string(*r.exception)));
        }, "The device's exception by name ('illegal_data_address'), or None for a normal reply.")
        .def_property_readonly("exception_code", [](const mb::response& r) -> py::object {
            if (!r.exception) return py::none();
            return py::int_(static_cast<int>(*r.exception));
        })
        .def_property_readonly("exception_message", [](const mb::response& r) -> py::object {
            if (!r.exception) return py::none();
            return py::str(r.exception_error().message());
        })
        .def_readonly("address", &mb::response::address)
        .def_readonly("quantity", &mb::response::quantity)
        .def_readonly("values", &mb::response::values)
        .def_property_readonly("ok", &mb::response::ok)
        .def("__eq__", [](const mb::response& a, const mb::response& b) { return a == b; })
        .def("__repr__", [](const mb::response& r) {
            std::string s = "Response(slave=" + std::to_string(r.slave) + ", function=" + std::string(mb::to_string(r.function));
            if (r.exception) return s + ", exception=" + std::string(mb::to_string(*r.exception)) + ")";
            s += ", address=" + std::to_string(r.address) + ", values=[";
            for (std::size_t i = 0; i < r.values.size(); ++i) s += (i ? ", " : "") + std::to_string(r.values[i]);
            return s + "])";
        });
    m.def("decode_response", [](const py::handle& request, const py::handle& reply) {
        return unwrap(mb::decode_response(to_bytes(request, "request"), to_bytes(reply, "reply")));
    }, py::arg("request"), py::arg("reply"),
          "Decode `reply` as the answer to the request frame `request`: checks CRC, slave, function, byte count and the "
          "echo of a write. A Modbus exception is a normal result (Response.exception); a frame that is not a reply to "
          "this request raises ModbusError.");
    m.def("encode_response", [](const py::handle& request, const std::vector<long long>& values) {
        auto req = unwrap(mb::parse_request(to_bytes(request, "request")), "request");
        auto regs = registers_of(values);
        return frame_bytes(unwrap(mb::encode_response(req, regs)));
    }, py::arg("request"), py::arg("values") = std::vector<long long>{},
          "The normal reply a device would send to `request` (for tests and simulators).");
    m.def("encode_exception", [](long long slave, long long function, long long code) {
        auto f = mb::to_function_code(static_cast<std::uint8_t>(checked(function, 0, 255, "ModbusError", "function")));
        if (!f) raise("ModbusError", "function " + std::to_string(function) + " is not supported (01 02 03 04 05 06 0F 10)",
                      py::dict(py::arg("code") = "unsupported_function"));
        auto c = mb::to_exception_code(static_cast<std::uint8_t>(checked(code, 0, 255, "ModbusError", "exception_code")));
        if (!c) raise("ModbusError", "exception code " + std::to_string(code) + " is not a Modbus exception (01-08, 0A, 0B)",
                      py::dict(py::arg("code") = "invalid_exception_code"));
        return frame_bytes(mb::encode_exception(slave_of(slave), *f, *c));
    }, py::arg("slave"), py::arg("function"), py::arg("exception_code"), "An exception reply (for tests and simulators).");

    py::dict exceptions;
    for (int raw : {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x0A, 0x0B})
        exceptions[py::int_(raw)] = std::string(mb::to_string(*mb::to_exception_code(static_cast<std::uint8_t>(raw))));
    m.attr("EXCEPTIONS") = exceptions;
    py::dict functions;
    for (int raw : {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0F, 0x10})
        functions[py::int_(raw)] = std::string(mb::to_string(*mb::to_function_code(static_cast<std::uint8_t>(raw))));
    m.attr("FUNCTIONS") = functions;
    m.def("exception_message", [](long long code) {
        auto c = mb::to_exception_code(static_cast<std::uint8_t>(checked(code, 0, 255, "ModbusError", "exception_code")));
        if (!c) raise("ModbusError", "exception code " + std::to_string(code) + " is not a Modbus exception (01-08, 0A, 0B)",
                      py::dict(py::arg("code") = "invalid_exception_code"));
        return make_error_code(*c).message();
    }, py::arg("code"), "What a Modbus exception code means, in words.");

    m.def("to_u32", [](const std::vector<long long>& regs, const std::string& order) {
        return unwrap(mb::to_u32(registers_of(regs), order_of(order)));
    }, py::arg("registers"), py::arg("word_order") = "high_word_first");
    m.def("to_i32", [](const std::vector<long long>& regs, const std::string& order) {
        return unwrap(mb::to_i32(registers_of(regs), order_of(order)));
    }, py::arg("registers"), py::arg("word_order") = "high_word_first");
    m.def("to_float32", [](const std::vector<long long>& regs, const std::string& order) {
        return unwrap(mb::to_float32(registers_of(regs), order_of(order)));
    }, py::arg("registers"), py::arg("word_order") = "high_word_first",
          "Two registers as an IEEE 754 float (the SDM320C's measurements).");
}

} // namespace relaylink::python
