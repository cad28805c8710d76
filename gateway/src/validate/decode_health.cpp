#include <array>

#include "validate/decode.hpp"
#include "validate/fields.hpp"
#include "validate/payload.hpp"

namespace fogbridge {
namespace {

// The figures schemas/device-health.json names; each optional, each a finite number.
constexpr std::array<std::string_view, 5> figures{"battery", "uptime_s", "rssi", "cpu", "memory"};

std::variant<device_health, rejection> decode_object(std::string_view device,
                                                     const nlohmann::json& object, double now,
                                                     const decode_settings& settings) {
    field_reader in(object);
    (void)in.integer("boot", 0, max_safe_integer, false);
    const auto claimed = in.text("device", max_safe_integer, false);
    if (in.ok() && claimed && *claimed != device) {
        in.fail(reject_reason::device_mismatch, "field 'device' differs from the topic's device");
    }
    const auto ts = in.number("ts", false);
    if (in.ok() && ts) in.check_window(*ts, now, settings.max_past_s, settings.max_future_s);
    for (const auto name : figures) (void)in.number(name, false);
    in.all_finite();
    if (!in.ok()) return *in.error();
    return device_health{object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
}

}  // namespace

std::variant<device_health, rejection> decode_health(device_message message, double now,
                                                     const decode_settings& settings) {
    return decode_json_object<device_health>(
        message.payload, settings, "device health must be a JSON object",
        [&](const nlohmann::json& doc) {
            return decode_object(message.device, doc, now, settings);
        });
}

}  // namespace fogbridge
