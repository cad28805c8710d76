// Typed reads of one JSON object's fields, stopping at the first problem; internal, one per object.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "validate/reject.hpp"

namespace fogbridge {

inline constexpr std::uint64_t max_safe_integer = (std::uint64_t{1} << 53) - 1;
inline constexpr std::size_t max_unit_chars = 16;

// Each read does nothing once an earlier read failed, so a decoder reads all its fields in order
// and then looks at error() once. A field that is null counts as absent for optional fields.
class field_reader final {
  public:
    explicit field_reader(const nlohmann::json& object) : object_(object) {}

    bool ok() const { return !error_; }
    const std::optional<rejection>& error() const { return error_; }

    // A required id (valid_id rules), else bad_id.
    std::string id(std::string_view name);
    // A string of at most max_chars code points without control characters.
    std::optional<std::string> text(std::string_view name, std::size_t max_chars, bool required);
    // A finite number. null, "NaN"/"Infinity" strings and overflowing numbers are not_finite.
    std::optional<double> number(std::string_view name, bool required);
    // An integer in [min, max]: 7.0 is accepted, 7.5 is wrong_type, out of range is bad_seq.
    std::optional<std::uint64_t> integer(std::string_view name, std::uint64_t min,
                                         std::uint64_t max, bool required);

    // not_finite when any field, also one nobody reads, holds a NaN or Infinity literal or a
    // number too large for a double, at any depth: for documents passed on whole.
    void all_finite();

    // ts_out_of_window unless now - max_past <= ts <= now + max_future.
    void check_window(double ts, double now, double max_past, double max_future);

    void fail(reject_reason reason, std::string detail);

  private:
    // The field's value, or nullptr when absent (a missing required field records the error).
    const nlohmann::json* find(std::string_view name, bool required);

    const nlohmann::json& object_;
    std::optional<rejection> error_;
};

}  // namespace fogbridge
