#include "text.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <string>

namespace fogbridge::detail {

std::string_view trim(std::string_view text) {
    const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!text.empty() && is_space(text.front())) {
        text.remove_prefix(1);
    }
    while (!text.empty() && is_space(text.back())) {
        text.remove_suffix(1);
    }
    return text;
}

std::string_view unquote(std::string_view text) {
    text = trim(text);
    if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
        text = text.substr(1, text.size() - 2);
    }
    return text;
}

std::vector<std::string_view> split(std::string_view text, char delimiter) {
    std::vector<std::string_view> fields;
    std::size_t start = 0;
    while (true) {
        const auto pos = text.find(delimiter, start);
        if (pos == std::string_view::npos) {
            fields.push_back(text.substr(start));
            return fields;
        }
        fields.push_back(text.substr(start, pos - start));
        start = pos + 1;
    }
}

std::optional<double> parse_number(std::string_view text, bool decimal_comma) {
    text = trim(text);
    if (text.empty()) {
        return std::nullopt;
    }
    std::string copy;
    if (decimal_comma && text.find(',') != std::string_view::npos) {
        copy.assign(text);
        for (char& c : copy) {
            if (c == ',') {
                c = '.';
            }
        }
        text = copy;
    }
    if (text.front() == '+') {
        text.remove_prefix(1);
    }
    double value = 0.0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc{} || ptr != end || !std::isfinite(value)) {
        return std::nullopt;
    }
    return value;
}

std::optional<int> parse_fixed_int(std::string_view text, std::size_t digits) {
    if (text.size() != digits) {
        return std::nullopt;
    }
    int value = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        value = value * 10 + (c - '0');
    }
    return value;
}

std::optional<std::int64_t> days_from_civil(int year, int month, int day) {
    static constexpr std::array<int, 12> month_days{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month < 1 || month > 12 || day < 1) {
        return std::nullopt;
    }
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    const int days_in_month =
        month_days.at(static_cast<std::size_t>(month - 1)) + ((month == 2 && leap) ? 1 : 0);
    if (day > days_in_month) {
        return std::nullopt;
    }
    // Howard Hinnant's days_from_civil.
    const std::int64_t y = static_cast<std::int64_t>(year) - (month <= 2 ? 1 : 0);
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const std::int64_t yoe = y - era * 400;
    const std::int64_t mp = (month + 9) % 12;
    const std::int64_t doy = (153 * mp + 2) / 5 + day - 1;
    const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

std::optional<double> civil_to_epoch(const civil_time& t) {
    if (t.hour < 0 || t.hour > 23 || t.minute < 0 || t.minute > 59 || !(t.second >= 0.0) ||
        !(t.second < 60.0)) {
        return std::nullopt;
    }
    const auto days = days_from_civil(t.year, t.month, t.day);
    if (!days) {
        return std::nullopt;
    }
    return static_cast<double>(*days * 86400 + std::int64_t{t.hour} * 3600 +
                               std::int64_t{t.minute} * 60) +
           t.second;
}

line_reader::line_reader(std::string_view text) : rest_(text) {}

bool line_reader::next(std::string_view& line) {
    if (done_) {
        return false;
    }
    const auto pos = rest_.find('\n');
    if (pos == std::string_view::npos) {
        done_ = true;
        line = rest_;
        if (line.empty()) {
            return false;  // the text ended with a newline
        }
    } else {
        line = rest_.substr(0, pos);
        rest_.remove_prefix(pos + 1);
    }
    if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
    }
    ++line_number_;
    return true;
}

}  // namespace fogbridge::detail
