#include "validate/fields.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "validate/payload.hpp"
#include "validate/topic.hpp"
#include "validate/utf8.hpp"

namespace fogbridge {
namespace {

// Strings that stand for a number JSON cannot hold; sent by some encoders instead of failing.
bool non_finite_text(const std::string& s) {
    constexpr std::array<std::string_view, 10> names{overflow_marker, negative_overflow_marker,
                                                     literal_marker,  "NaN",
                                                     "nan",           "Infinity",
                                                     "-Infinity",     "inf",
                                                     "-inf",          "+inf"};
    return std::ranges::any_of(names, [&](std::string_view n) { return s == n; });
}

bool has_control(std::string_view s) {
    return std::ranges::any_of(
        s, [](char c) { return static_cast<unsigned char>(c) < 0x20U || c == 0x7F; });
}

// A field name as the sender spelled it, cut short and without control characters: the
// detail goes into a log line and the reject payload, so it must stay short whatever arrives.
std::string printable_name(std::string_view name) {
    constexpr std::size_t max_bytes = 40;
    std::string out;
    std::size_t end = std::min(name.size(), max_bytes);
    // Back up to a character boundary (a byte that is not a UTF-8 continuation byte).
    while (end < name.size() && end > 0 &&
           (static_cast<unsigned char>(name[end]) & 0xC0U) == 0x80U) {
        --end;
    }
    for (const char c : name.substr(0, end)) {
        const bool control = static_cast<unsigned char>(c) < 0x20U || c == 0x7F;
        out.push_back(control ? '?' : c);
    }
    if (end < name.size()) out += "...";
    return out;
}

std::string not_finite_detail(std::string_view raw_name, const nlohmann::json& v) {
    const auto name = printable_name(raw_name);
    if (v.is_string() && v.get_ref<const std::string&>() == literal_marker) {
        return fmt::format("field '{}' holds a NaN or Infinity literal, which is not JSON", name);
    }
    return fmt::format("field '{}' is not a finite number", name);
}

// The first marker in v (any depth), if any.
const nlohmann::json* find_marker(const nlohmann::json& v) {
    if (is_marker(v)) return &v;
    if (!v.is_structured()) return nullptr;
    for (const auto& child : v) {
        if (const auto* m = find_marker(child)) return m;
    }
    return nullptr;
}

}  // namespace

void field_reader::fail(reject_reason reason, std::string detail) {
    if (!error_) error_ = rejection{reason, std::move(detail), {}, {}, {}};
}

void field_reader::check_window(double ts, double now, double max_past, double max_future) {
    if (ts < now - max_past || ts > now + max_future) {
        fail(reject_reason::ts_out_of_window,
             fmt::format("field 'ts' is {:+.6g} s off the gateway clock", ts - now));
    }
}

const nlohmann::json* field_reader::find(std::string_view name, bool required) {
    if (error_) return nullptr;
    const auto it = object_.find(name);
    if (it == object_.end() || (!required && it->is_null())) {
        if (required) fail(reject_reason::missing_field, fmt::format("missing field '{}'", name));
        return nullptr;
    }
    return &*it;
}

std::string field_reader::id(std::string_view name) {
    const auto* v = find(name, true);
    if (!v) return {};
    if (is_marker(*v)) {
        fail(reject_reason::not_finite, not_finite_detail(name, *v));
        return {};
    }
    if (!v->is_string()) {
        fail(reject_reason::wrong_type, fmt::format("field '{}' is not a string", name));
        return {};
    }
    const auto& s = v->get_ref<const std::string&>();
    if (!valid_id(s)) {
        fail(reject_reason::bad_id,
             fmt::format("field '{}' is not 1..64 characters of [A-Za-z0-9_.:-]", name));
        return {};
    }
    return s;
}

std::optional<std::string> field_reader::text(std::string_view name, std::size_t max_chars,
                                              bool required) {
    const auto* v = find(name, required);
    if (!v) return std::nullopt;
    if (is_marker(*v)) {
        fail(reject_reason::not_finite, not_finite_detail(name, *v));
        return std::nullopt;
    }
    if (!v->is_string()) {
        fail(reject_reason::wrong_type, fmt::format("field '{}' is not a string", name));
        return std::nullopt;
    }
    const auto& s = v->get_ref<const std::string&>();
    if (utf8_length(s) > max_chars) {
        fail(reject_reason::wrong_type,
             fmt::format("field '{}' is longer than {} characters", name, max_chars));
        return std::nullopt;
    }
    if (has_control(s)) {
        fail(reject_reason::wrong_type, fmt::format("field '{}' has control characters", name));
        return std::nullopt;
    }
    return s;
}

std::optional<double> field_reader::number(std::string_view name, bool required) {
    const auto* v = find(name, required);
    if (!v) return std::nullopt;
    if (v->is_number()) {
        const auto d = v->get<double>();
        if (std::isfinite(d)) return d;
    } else if (!v->is_null() &&
               !(v->is_string() && non_finite_text(v->get_ref<const std::string&>()))) {
        fail(reject_reason::wrong_type, fmt::format("field '{}' is not a number", name));
        return std::nullopt;
    }
    fail(reject_reason::not_finite, not_finite_detail(name, *v));
    return std::nullopt;
}

std::optional<std::uint64_t> field_reader::integer(std::string_view name, std::uint64_t min,
                                                   std::uint64_t max, bool required) {
    const auto* v = find(name, required);
    if (!v) return std::nullopt;
    const auto out_of_range = [&] {
        fail(reject_reason::bad_seq,
             fmt::format("field '{}' is out of range {}..{}", name, min, max));
        return std::nullopt;
    };
    if (v->is_number_unsigned()) {
        const auto u = v->get<std::uint64_t>();
        if (u < min || u > max) return out_of_range();
        return u;
    }
    if (v->is_number_integer()) {  // only negatives (and -0) land here
        const auto i = v->get<std::int64_t>();
        if (i < 0 || static_cast<std::uint64_t>(i) < min) return out_of_range();
        return static_cast<std::uint64_t>(i);
    }
    if (v->is_number_float()) {
        const auto d = v->get<double>();
        if (std::floor(d) != d) {
            fail(reject_reason::wrong_type, fmt::format("field '{}' is not an integer", name));
            return std::nullopt;
        }
        // max <= 2^53-1, so the comparison in double is exact.
        if (d < static_cast<double>(min) || d > static_cast<double>(max)) return out_of_range();
        return static_cast<std::uint64_t>(d);
    }
    if (v->is_string()) {
        const auto& s = v->get_ref<const std::string&>();
        if (s == overflow_marker || s == negative_overflow_marker) return out_of_range();
        if (s == literal_marker) {
            fail(reject_reason::not_finite, not_finite_detail(name, *v));
            return std::nullopt;
        }
    }
    fail(reject_reason::wrong_type, fmt::format("field '{}' is not an integer", name));
    return std::nullopt;
}

void field_reader::all_finite() {
    if (error_) return;
    for (const auto& item : object_.items()) {
        if (const auto* m = find_marker(item.value())) {
            fail(reject_reason::not_finite, not_finite_detail(item.key(), *m));
            return;
        }
    }
}

}  // namespace fogbridge
