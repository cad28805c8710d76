#include "validate/fast_reading.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <system_error>

#include "validate/board_clock.hpp"
#include "validate/fields.hpp"
#include "validate/payload.hpp"
#include "validate/topic.hpp"
#include "validate/utf8.hpp"

namespace fogbridge {
namespace {

// The fields decode_one reads; any other key is skipped, as the DOM path ignores it.
enum field : std::uint8_t {
    f_boot,
    f_seq,
    f_device,
    f_sensor,
    f_value,
    f_unit,
    f_ts,
    f_up,
    f_count
};

constexpr std::array<std::string_view, f_count> field_names{"boot",  "seq",  "device", "sensor",
                                                            "value", "unit", "ts",     "up"};

enum class kind : std::uint8_t { absent, null, boolean, string, number };

struct raw_value {
    kind k = kind::absent;
    std::string_view text;  // a string's bytes (no escapes) or a number's token
};

using raw_fields = std::array<raw_value, f_count>;

bool digit(char c) { return c >= '0' && c <= '9'; }

// One comparison per key: the known names differ in length or first letter.
field field_of(std::string_view key) {
    field f = f_count;
    switch (key.size()) {
        case 2:
            f = key[0] == 't' ? f_ts : f_up;
            break;
        case 3:
            f = f_seq;
            break;
        case 4:
            f = key[0] == 'b' ? f_boot : f_unit;
            break;
        case 5:
            f = f_value;
            break;
        case 6:
            f = key[0] == 'd' ? f_device : f_sensor;
            break;
        default:
            return f_count;
    }
    return key == field_names[f] ? f : f_count;
}

// Strict JSON over a view; every method returns false where it is not sure, never an error.
class flat_scanner final {
  public:
    explicit flat_scanner(std::string_view s) : s_(s) {}

    bool take(char c) {
        skip_space();
        if (i_ < s_.size() && s_[i_] == c) {
            ++i_;
            return true;
        }
        return false;
    }

    bool at_end() {
        skip_space();
        return i_ == s_.size();
    }

    // Bytes above 0x7F were seen in a string, so the whole input needs the UTF-8 check.
    bool saw_non_ascii() const { return non_ascii_; }

    // The members of an object whose '{' was taken: only scalars, known keys at most once.
    bool object(raw_fields& out) {
        if (take('}')) return true;
        do {
            std::string_view key;
            raw_value v;
            if (!take('"') || !string(key) || !take(':') || !value(v)) return false;
            const field f = field_of(key);
            if (f == f_count) continue;
            if (out[f].k != kind::absent) return false;  // duplicate: leave "last wins" to the DOM
            out[f] = v;
        } while (take(','));
        return take('}');
    }

  private:
    void skip_space() {
        while (i_ < s_.size() &&
               (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) {
            ++i_;
        }
    }

    // After the opening quote. Escapes would need decoding and control bytes are invalid JSON.
    bool string(std::string_view& out) {
        for (std::size_t j = i_; j < s_.size(); ++j) {
            const auto c = static_cast<unsigned char>(s_[j]);
            if (c == '"') {
                out = s_.substr(i_, j - i_);
                i_ = j + 1;
                return true;
            }
            if (c == '\\' || c < 0x20U) return false;
            if (c >= 0x80U) non_ascii_ = true;
        }
        return false;
    }

    // What follows the number is checked by the caller.
    bool number(std::string_view& out) {
        const std::size_t n = json_number_length(s_.substr(i_));
        if (n == 0) return false;
        out = s_.substr(i_, n);
        i_ += n;
        return true;
    }

    bool word(std::string_view w) {
        if (s_.substr(i_, w.size()) != w) return false;
        i_ += w.size();
        return true;
    }

    bool value(raw_value& out) {
        skip_space();
        if (i_ == s_.size()) return false;
        const char c = s_[i_];
        if (c == '"') {
            ++i_;
            out.k = kind::string;
            return string(out.text);
        }
        if (c == '-' || digit(c)) {
            out.k = kind::number;
            return number(out.text);
        }
        out.k = c == 'n' ? kind::null : kind::boolean;
        return word("null") || word("true") || word("false");
    }

    std::string_view s_;
    std::size_t i_ = 0;
    bool non_ascii_ = false;
};

bool integral_token(std::string_view t) { return t.find_first_of(".eE") == std::string_view::npos; }

// An integer token of at most `max_digits` digits (no sign), else false.
bool small_unsigned(std::string_view t, std::size_t max_digits, std::uint64_t& out) {
    if (t.empty() || t.size() > max_digits) return false;
    std::uint64_t u = 0;
    for (const char c : t) {
        if (!digit(c)) return false;
        u = u * 10 + static_cast<std::uint64_t>(c - '0');
    }
    out = u;
    return true;
}

// boot and seq as the DOM path reads them, restricted to plain non-negative integers in range.
bool safe_integer(const raw_value& v, std::uint64_t min, std::uint64_t& out) {
    constexpr std::size_t max_safe_digits = 16;  // 2^53-1 has 16 digits
    return v.k == kind::number && small_unsigned(v.text, max_safe_digits, out) && out >= min &&
           out <= max_safe_integer;
}

// A number as nlohmann's get<double> gives it: an integer token goes through (u)int64, so "-0" is
// +0.0; other tokens are correctly rounded, as strtod does.
bool finite_number(const raw_value& v, double& out) {
    constexpr std::size_t max_token = 40;         // longer ones are left to the DOM path
    constexpr std::size_t max_int64_digits = 18;  // fits both int64 and uint64
    if (v.k != kind::number || v.text.size() > max_token) return false;
    const std::string_view t = v.text;
    if (integral_token(t)) {
        const bool negative = t.front() == '-';
        std::uint64_t u = 0;
        if (!small_unsigned(t.substr(negative ? 1 : 0), max_int64_digits, u)) return false;
        out =
            negative ? static_cast<double>(-static_cast<std::int64_t>(u)) : static_cast<double>(u);
        return true;
    }
    const auto r = std::from_chars(t.data(), t.data() + t.size(), out);
    return r.ec == std::errc{} && r.ptr == t.data() + t.size() && std::isfinite(out);
}

bool absent(const raw_value& v) { return v.k == kind::absent || v.k == kind::null; }

// A string without DEL (the scanner already refused the other control characters).
bool plain_text(const raw_value& v) {
    return v.k == kind::string && v.text.find('\x7f') == std::string_view::npos;
}

bool good_unit(const raw_value& v) {
    return absent(v) || (plain_text(v) && utf8_length(v.text) <= max_unit_chars);
}

// The reading decode_one makes of these fields, or false when it would not make one.
bool to_reading(const raw_fields& f, std::string_view device, double now,
                const decode_settings& settings, reading& r) {
    const auto& claimed = f[f_device];
    if (!safe_integer(f[f_boot], 0, r.boot) || !safe_integer(f[f_seq], 1, r.seq)) return false;
    if (!absent(claimed) && !(plain_text(claimed) && claimed.text == device)) return false;
    if (f[f_sensor].k != kind::string || !valid_id(f[f_sensor].text)) return false;
    if (!finite_number(f[f_value], r.value) || !good_unit(f[f_unit])) return false;
    if (!finite_number(f[f_ts], r.ts)) return false;
    if (!absent(f[f_up])) {
        double up = 0;
        if (!finite_number(f[f_up], up) || up < 0) return false;
        r.up = up;
    }
    const bool mapped = r.up && ts_untrusted(r.ts, now, settings.max_clock_skew_s);
    if (!mapped && (r.ts < now - settings.max_past_s || r.ts > now + settings.max_future_s)) {
        return false;
    }
    r.device = device;
    r.sensor = f[f_sensor].text;
    if (f[f_unit].k == kind::string) r.unit = f[f_unit].text;
    return true;
}

// One object whose '{' was taken, appended to out.
bool element(flat_scanner& in, std::string_view device, double now, const decode_settings& settings,
             decoded_readings& out) {
    raw_fields f;
    reading r;
    if (!in.object(f) || !to_reading(f, device, now, settings, r)) return false;
    out.readings.push_back(std::move(r));
    return true;
}

bool elements(flat_scanner& in, std::string_view device, double now,
              const decode_settings& settings, decoded_readings& out) {
    if (in.take(']')) return true;
    do {
        if (out.readings.size() == settings.max_readings_per_message) return false;
        if (!in.take('{') || !element(in, device, now, settings, out)) return false;
    } while (in.take(','));
    return in.take(']');
}

}  // namespace

std::optional<decoded_readings> fast_decode_readings(device_message message, double now,
                                                     const decode_settings& settings) {
    const std::string_view device = message.device;
    const std::string_view payload = message.payload;
    if (payload.size() > settings.max_payload_bytes) return std::nullopt;
    flat_scanner in(payload);
    decoded_readings out;
    bool ok = false;
    if (in.take('{')) {
        ok = settings.max_depth >= 1 && element(in, device, now, settings, out);
    } else if (in.take('[')) {
        ok = settings.max_depth >= 2 && elements(in, device, now, settings, out);
    }
    if (!ok || !in.at_end()) return std::nullopt;
    if (in.saw_non_ascii() && !valid_utf8(payload)) return std::nullopt;
    return out;
}

}  // namespace fogbridge
