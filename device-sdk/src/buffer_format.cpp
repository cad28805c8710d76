#include "buffer_format.hpp"

#include <array>
#include <bit>
#include <cmath>

#include "fogbridge/protocol.hpp"

namespace fogbridge::detail {
namespace {

constexpr std::string_view segment_magic = "FBRBUF01";
constexpr std::uint8_t kind_reading = 1;
constexpr std::uint8_t kind_release = 2;
constexpr std::uint8_t kind_reading_up = 3;  // a reading with its up (seconds since boot)

constexpr std::array<std::uint32_t, 256> make_crc_table() {
    std::array<std::uint32_t, 256> table{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int bit = 0; bit < 8; ++bit) {
            c = (c & 1U) != 0 ? 0xEDB88320U ^ (c >> 1U) : c >> 1U;
        }
        table[i] = c;
    }
    return table;
}

constexpr auto crc_table = make_crc_table();

void put_u8(std::string& out, std::uint8_t v) { out += static_cast<char>(v); }

void put_u32(std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        out += static_cast<char>((v >> (8 * i)) & 0xFFU);
    }
}

void put_u64(std::string& out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) {
        out += static_cast<char>((v >> (8 * i)) & 0xFFU);
    }
}

void put_f64(std::string& out, double v) { put_u64(out, std::bit_cast<std::uint64_t>(v)); }

void put_text(std::string& out, std::string_view text) {
    put_u8(out, static_cast<std::uint8_t>(text.size()));
    out += text;
}

// Reads forward through a body; every getter fails (and stays failed) past the end.
class reader final {
  public:
    explicit reader(std::string_view data) : data_(data) {}

    bool ok() const { return ok_; }
    bool at_end() const { return pos_ == data_.size(); }

    std::uint64_t u(std::size_t bytes) {
        if (!ok_ || data_.size() - pos_ < bytes) {
            ok_ = false;
            return 0;
        }
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < bytes; ++i) {
            v |= std::uint64_t{static_cast<unsigned char>(data_[pos_ + i])} << (8 * i);
        }
        pos_ += bytes;
        return v;
    }
    double f64() { return std::bit_cast<double>(u(8)); }
    std::string text() {
        const auto n = static_cast<std::size_t>(u(1));
        if (!ok_ || data_.size() - pos_ < n) {
            ok_ = false;
            return {};
        }
        std::string out(data_.substr(pos_, n));
        pos_ += n;
        return out;
    }

  private:
    std::string_view data_;
    std::size_t pos_ = 0;
    bool ok_ = true;
};

std::string framed(const std::string& body) {
    std::string head;
    put_u32(head, static_cast<std::uint32_t>(body.size()));
    std::string out = head;
    put_u32(out, crc32(body, crc32(head)));
    out += body;
    return out;
}

std::optional<buffer_record> decode_body(std::string_view body) {
    reader in(body);
    const auto kind = in.u(1);
    if (kind == kind_release) {
        release_record r;
        r.boot = in.u(8);
        r.seq = in.u(8);
        if (!in.ok() || !in.at_end()) {
            return std::nullopt;
        }
        return r;
    }
    if (kind != kind_reading && kind != kind_reading_up) {
        return std::nullopt;
    }
    buffered_reading r;
    r.boot = in.u(8);
    r.seq = in.u(8);
    r.ts = in.f64();
    r.value = in.f64();
    if (kind == kind_reading_up) {
        r.up = in.f64();
        if (!std::isfinite(*r.up) || *r.up < 0) {
            return std::nullopt;
        }
    }
    r.sensor = in.text();
    r.unit = in.text();
    if (!in.ok() || !in.at_end() || r.seq == 0 || !std::isfinite(r.ts) || !std::isfinite(r.value) ||
        !valid_sensor_name(r.sensor) || !valid_unit(r.unit)) {
        return std::nullopt;
    }
    return r;
}

}  // namespace

std::uint32_t crc32(std::string_view data, std::uint32_t crc) {
    crc = ~crc;
    for (const char ch : data) {
        crc = crc_table[(crc ^ static_cast<unsigned char>(ch)) & 0xFFU] ^ (crc >> 8U);
    }
    return ~crc;
}

std::string encode_segment_header(std::uint64_t index) {
    std::string out(segment_magic);
    put_u64(out, index);
    put_u32(out, crc32(out));
    return out;
}

bool valid_segment_header(std::string_view bytes, std::uint64_t index) {
    return bytes.size() >= segment_header_bytes &&
           bytes.substr(0, segment_header_bytes) == encode_segment_header(index);
}

std::string encode_record(const buffered_reading& reading) {
    std::string body;
    body.reserve(max_record_body);
    put_u8(body, reading.up ? kind_reading_up : kind_reading);
    put_u64(body, reading.boot);
    put_u64(body, reading.seq);
    put_f64(body, reading.ts);
    put_f64(body, reading.value);
    if (reading.up) {
        put_f64(body, *reading.up);
    }
    put_text(body, reading.sensor);
    put_text(body, reading.unit);
    return framed(body);
}

std::string encode_record(const release_record& release) {
    std::string body;
    put_u8(body, kind_release);
    put_u64(body, release.boot);
    put_u64(body, release.seq);
    return framed(body);
}

std::optional<buffer_record> decode_record(std::string_view data, std::size_t offset,
                                           std::size_t& used) {
    if (offset > data.size() || data.size() - offset < record_head_bytes) {
        return std::nullopt;
    }
    reader head(data.substr(offset, record_head_bytes));
    const auto length = static_cast<std::size_t>(head.u(4));
    const auto crc = static_cast<std::uint32_t>(head.u(4));
    if (length < min_record_body || length > max_record_body ||
        data.size() - offset - record_head_bytes < length) {
        return std::nullopt;
    }
    const auto body = data.substr(offset + record_head_bytes, length);
    if (crc32(body, crc32(data.substr(offset, 4))) != crc) {
        return std::nullopt;
    }
    used = record_head_bytes + length;
    return decode_body(body);
}

}  // namespace fogbridge::detail
