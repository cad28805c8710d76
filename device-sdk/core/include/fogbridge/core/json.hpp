// JSON pieces of the device contract, into caller-owned buffers (no heap); pure, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fogbridge::core {

// Appends to a fixed buffer; once something does not fit, `overflow` stays set and the text is
// unusable.
class json_out final {
  public:
    json_out(char* data, std::size_t capacity) : data_(data), capacity_(capacity) {}

    void raw(const char* text);
    void raw(const char* text, std::size_t size);
    void ch(char c);
    void string(const char* text);  // quoted and escaped
    void uint(std::uint64_t value);
    // Milliseconds as seconds with up to three decimals, exact: 1732630000123 -> 1732630000.123.
    void millis(std::int64_t ms);
    // A finite double: fixed notation with up to 6 decimals and 15 significant digits, or an
    // exponent outside [1e-6, 1e15). Callers never pass NaN or infinity.
    void number(double value);

    std::size_t size() const { return size_; }
    bool overflow() const { return overflow_; }
    void truncate(std::size_t size) {
        size_ = size;
        overflow_ = false;
    }
    // Drops the first character (the '[' of a list that ended up holding one item).
    void erase_front() {
        for (std::size_t i = 1; i < size_; ++i) {
            data_[i - 1] = data_[i];
        }
        size_ = size_ > 0 ? size_ - 1 : 0;
    }
    const char* data() const { return data_; }

  private:
    char* data_;
    std::size_t capacity_;
    std::size_t size_ = 0;
    bool overflow_ = false;
};

// {"boot":7,"seq":1042}: other keys (any JSON value) are skipped; false when malformed or either
// number is missing or not a non-negative integer.
bool parse_ack(const char* payload, std::size_t size, std::uint64_t& boot, std::uint64_t& seq);

// 1-64 characters of [A-Za-z0-9_.-]: a device id or sensor name, safe as one topic level.
bool valid_name(const char* name);
// 0-16 bytes without control characters or quotes/backslashes (kept verbatim in JSON).
bool valid_unit(const char* unit);

}  // namespace fogbridge::core
