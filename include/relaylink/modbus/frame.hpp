// A Modbus RTU frame (ADU) in a fixed 256-byte buffer: encoding a frame allocates nothing.
#pragma once

#include <relaylink/modbus/crc.hpp>
#include <relaylink/modbus/error.hpp>
#include <relaylink/modbus/function_code.hpp>

#include <algorithm>
#include <cstring>
#include <array>
#include <cstdint>
#include <span>

namespace relaylink::modbus {

class frame {
public:
    constexpr frame() noexcept = default;
    // Copies move only the bytes in use (a relay frame is 8 of the 256), which is what keeps
    // encoding in the tens of nanoseconds, and never reads the unused, uninitialised tail.
    constexpr frame(const frame& o) noexcept : size_(o.size_) { std::copy_n(o.buf_.data(), size_, buf_.data()); }
    constexpr frame& operator=(const frame& o) noexcept {
        size_ = o.size_;
        std::copy_n(o.buf_.data(), size_, buf_.data());
        return *this;
    }

    /// Copy bytes into a frame; frame_too_long when they cannot be a Modbus RTU ADU.
    static result<frame> from_bytes(std::span<const std::uint8_t> bytes) {
        if (bytes.size() > max_adu_size) return make_error_code(errc::frame_too_long);
        frame f;
        std::copy(bytes.begin(), bytes.end(), f.buf_.begin());
        f.size_ = static_cast<std::uint16_t>(bytes.size());
        return f;
    }

    constexpr const std::uint8_t* data() const noexcept { return buf_.data(); }
    constexpr std::size_t size() const noexcept { return size_; }
    constexpr bool empty() const noexcept { return size_ == 0; }
    constexpr std::span<const std::uint8_t> bytes() const noexcept { return {buf_.data(), size_}; }
    constexpr const std::uint8_t* begin() const noexcept { return buf_.data(); }
    constexpr const std::uint8_t* end() const noexcept { return buf_.data() + size_; }
    constexpr std::uint8_t operator[](std::size_t i) const noexcept { return buf_[i]; }

    friend constexpr bool operator==(const frame& a, const frame& b) noexcept {
        return std::equal(a.begin(), a.end(), b.begin(), b.end());
    }

    // Building (used by the encoders): append bytes, then seal() appends the CRC.
    constexpr void push(std::uint8_t b) noexcept { buf_[size_++] = b; }
    constexpr void push_u16(std::uint16_t v) noexcept {
        push(static_cast<std::uint8_t>(v >> 8));
        push(static_cast<std::uint8_t>(v & 0xFFU));
    }
    constexpr void seal() noexcept {
        const std::uint16_t crc = crc16(bytes());
        push(static_cast<std::uint8_t>(crc & 0xFFU)); // CRC goes low byte first
        push(static_cast<std::uint8_t>(crc >> 8));
    }

private:
    std::array<std::uint8_t, max_adu_size> buf_; // left uninitialised on purpose: only size_ bytes are read
    std::uint16_t size_ = 0;
};

/// True when the last two bytes are the CRC of the rest (equivalently, CRC over all bytes is 0).
constexpr bool crc_ok(std::span<const std::uint8_t> adu) noexcept { return adu.size() >= 3 && crc16(adu) == 0; }

constexpr std::uint16_t get_u16(std::span<const std::uint8_t> b, std::size_t at) noexcept {
    return static_cast<std::uint16_t>((b[at] << 8) | b[at + 1]);
}

} // namespace relaylink::modbus
