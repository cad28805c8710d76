#include <fmt/format.h>

#include "validate/decode.hpp"
#include "validate/fields.hpp"
#include "validate/payload.hpp"
#include "validate/utf8.hpp"

namespace fogbridge {
namespace {

constexpr std::size_t max_rule_chars = 64;

std::string_view trim(std::string_view s) {
    constexpr std::string_view space = " \t\r\n";
    const auto first = s.find_first_not_of(space);
    if (first == std::string_view::npos) return {};
    return s.substr(first, s.find_last_not_of(space) - first + 1);
}

std::variant<alert, rejection> decode_object(std::string_view device, const nlohmann::json& object,
                                             double now, const decode_settings& settings) {
    field_reader in(object);
    alert a;
    const auto boot = in.integer("boot", 0, max_safe_integer, true);
    a.seq = in.integer("seq", 1, max_safe_integer, false);
    const auto claimed = in.text("device", max_safe_integer, false);
    if (in.ok() && claimed && *claimed != device) {
        in.fail(reject_reason::device_mismatch, "field 'device' differs from the topic's device");
    }
    a.sensor = in.id("sensor");
    const auto value = in.number("value", true);
    a.threshold = in.number("threshold", false);
    auto unit = in.text("unit", max_unit_chars, false);
    auto rule = in.text("rule", max_rule_chars, false);
    const auto ts = in.number("ts", true);
    if (in.ok()) in.check_window(*ts, now, settings.max_past_s, settings.max_future_s);
    if (!in.ok()) {
        auto rej = *in.error();
        if (boot && a.seq) {
            rej.boot = boot;
            rej.seq = a.seq;
        }
        return rej;
    }
    a.device = device;
    a.value = *value;
    if (unit) a.unit = std::move(*unit);
    if (rule) a.rule = std::move(*rule);
    a.ts = *ts;
    a.boot = *boot;
    return a;
}

}  // namespace

std::variant<alert, rejection> decode_alert(device_message message, double now,
                                            const decode_settings& settings) {
    return decode_json_object<alert>(message.payload, settings, "an alert must be a JSON object",
                                     [&](const nlohmann::json& doc) {
                                         return decode_object(message.device, doc, now, settings);
                                     });
}

std::string_view to_string(device_status s) {
    switch (s) {
        case device_status::online:
            return "online";
        case device_status::offline:
            return "offline";
        case device_status::cleared:
            return "cleared";
    }
    return "?";
}

std::variant<device_status, rejection> decode_status(std::string_view payload,
                                                     const decode_settings& settings) {
    const auto reject = [](reject_reason r, std::string detail) {
        return rejection{r, std::move(detail), {}, {}, {}};
    };
    if (payload.size() > settings.max_payload_bytes) {
        return reject(reject_reason::too_large,
                      fmt::format("payload of {} bytes exceeds the limit of {}", payload.size(),
                                  settings.max_payload_bytes));
    }
    if (const auto at = find_invalid_utf8(payload)) {
        return reject(reject_reason::invalid_utf8, fmt::format("invalid UTF-8 at byte {}", *at));
    }
    if (payload.empty()) return device_status::cleared;
    const auto text = trim(payload);
    if (text == "online") return device_status::online;
    if (text == "offline") return device_status::offline;
    return reject(reject_reason::wrong_type, "status must be 'online' or 'offline'");
}

}  // namespace fogbridge
