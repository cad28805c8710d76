// Small text helpers for the parsers: splitting, trimming, numbers and civil dates; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace fogbridge::detail {

std::string_view trim(std::string_view text);
// Trims and removes one pair of surrounding double quotes.
std::string_view unquote(std::string_view text);
// Splits on `delimiter`; no quoting rules (the supported formats never quote a delimiter).
std::vector<std::string_view> split(std::string_view text, char delimiter);

// A finite decimal number, the whole field (after trimming); a decimal comma when asked.
std::optional<double> parse_number(std::string_view text, bool decimal_comma = false);
// Exactly `digits` decimal digits.
std::optional<int> parse_fixed_int(std::string_view text, std::size_t digits);

// Days since 1970-01-01 of a proleptic Gregorian date; nullopt when the date does not exist.
std::optional<std::int64_t> days_from_civil(int year, int month, int day);
struct civil_time {
    int year = 1970;
    int month = 1;
    int day = 1;
    int hour = 0;
    int minute = 0;
    double second = 0.0;
};

// Seconds since the epoch of a UTC civil time; nullopt when a field is out of range.
std::optional<double> civil_to_epoch(const civil_time& t);

// Walks lines split on '\n', dropping a trailing '\r'; numbers them from 1.
class line_reader final {
  public:
    explicit line_reader(std::string_view text);
    bool next(std::string_view& line);
    std::size_t line_number() const { return line_number_; }

  private:
    std::string_view rest_;
    std::size_t line_number_ = 0;
    bool done_ = false;
};

}  // namespace fogbridge::detail
