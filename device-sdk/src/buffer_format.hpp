// On-disk format of file_buffer's segments: header, records, CRC-32; pure, thread-safe.
//
// segment: "FBRBUF01" | u64 index | u32 crc32(previous 16 bytes)
// record:  u32 body length | u32 crc32(length bytes + body) | body
// body:    u8 kind = 1 (reading) | u64 boot | u64 seq | f64 ts | f64 value
//                                | u8 n | sensor (n bytes) | u8 m | unit (m bytes)
//          u8 kind = 3 (reading with up): as kind 1 with f64 up after value
//          u8 kind = 2 (release) | u64 boot | u64 seq    (an ack: see reading_buffer)
// Integers little-endian, doubles as their IEEE 754 bits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "fogbridge/buffer.hpp"

namespace fogbridge::detail {

inline constexpr std::size_t segment_header_bytes = 20;
inline constexpr std::size_t record_head_bytes = 8;
inline constexpr std::size_t min_record_body = 17;
inline constexpr std::size_t max_record_body = 1 + 8 + 8 + 8 + 8 + 8 + 1 + 64 + 1 + 32;
inline constexpr std::size_t max_record_bytes = record_head_bytes + max_record_body;

// CRC-32 (IEEE 802.3, reflected), continuing from `crc`.
std::uint32_t crc32(std::string_view data, std::uint32_t crc = 0);

std::string encode_segment_header(std::uint64_t index);
bool valid_segment_header(std::string_view bytes, std::uint64_t index);

struct release_record {
    std::uint64_t boot = 0;
    std::uint64_t seq = 0;
};
using buffer_record = std::variant<buffered_reading, release_record>;

std::string encode_record(const buffered_reading& reading);
std::string encode_record(const release_record& release);

// The record at `offset`, and its size in `used`; nullopt when it is torn or corrupt (too
// short, a length out of range, a CRC mismatch, or a body that does not decode).
std::optional<buffer_record> decode_record(std::string_view data, std::size_t offset,
                                           std::size_t& used);

}  // namespace fogbridge::detail
