#include <fmt/format.h>

#include "validate/board_clock.hpp"
#include "validate/decode.hpp"
#include "validate/fast_reading.hpp"
#include "validate/fields.hpp"
#include "validate/payload.hpp"

namespace fogbridge {
namespace {

std::variant<reading, rejection> decode_one(std::string_view device, const nlohmann::json& object,
                                            double now, const decode_settings& settings) {
    field_reader in(object);
    reading r;
    const auto boot = in.integer("boot", 0, max_safe_integer, true);
    const auto seq = in.integer("seq", 1, max_safe_integer, true);
    const auto claimed = in.text("device", max_safe_integer, false);
    if (in.ok() && claimed && *claimed != device) {
        in.fail(reject_reason::device_mismatch, "field 'device' differs from the topic's device");
    }
    r.sensor = in.id("sensor");
    const auto value = in.number("value", true);
    auto unit = in.text("unit", max_unit_chars, false);
    const auto ts = in.number("ts", true);
    const auto up = in.number("up", false);
    if (in.ok() && up && *up < 0) in.fail(reject_reason::wrong_type, "field 'up' is negative");
    // With "up", an untrusted ts is mapped onto the gateway clock later instead of judged here.
    const bool mapped = in.ok() && up && ts_untrusted(*ts, now, settings.max_clock_skew_s);
    if (in.ok() && !mapped) in.check_window(*ts, now, settings.max_past_s, settings.max_future_s);
    if (!in.ok()) {
        auto rej = *in.error();
        if (boot && seq) {
            rej.boot = boot;
            rej.seq = seq;
        }
        return rej;
    }
    r.device = device;
    r.value = *value;
    if (unit) r.unit = std::move(*unit);
    r.ts = *ts;
    r.up = up;
    r.boot = *boot;
    r.seq = *seq;
    return r;
}

void decode_element(std::string_view device, const nlohmann::json& element,
                    std::optional<std::size_t> index, double now, const decode_settings& settings,
                    decoded_readings& out) {
    std::variant<reading, rejection> one =
        rejection{reject_reason::not_object, "a reading must be a JSON object", {}, {}, {}};
    if (element.is_object()) one = decode_one(device, element, now, settings);
    if (auto* r = std::get_if<reading>(&one)) {
        out.readings.push_back(std::move(*r));
        return;
    }
    auto& rej = std::get<rejection>(one);
    if (index) {
        rej.index = index;
        rej.detail = fmt::format("element {}: {}", *index, rej.detail);
    }
    out.rejects.push_back(std::move(rej));
}

decoded_readings decode_document(std::string_view device, const nlohmann::json& doc, double now,
                                 const decode_settings& settings) {
    decoded_readings out;
    if (!doc.is_array()) {
        decode_element(device, doc, std::nullopt, now, settings, out);
        return out;
    }
    if (doc.size() > settings.max_readings_per_message) {
        out.rejects.push_back({reject_reason::too_many,
                               fmt::format("{} readings exceed the limit of {}", doc.size(),
                                           settings.max_readings_per_message),
                               {},
                               {},
                               {}});
        return out;
    }
    out.readings.reserve(doc.size());
    for (std::size_t i = 0; i < doc.size(); ++i) {
        decode_element(device, doc[i], i, now, settings, out);
    }
    return out;
}

}  // namespace

decoded_readings dom_decode_readings(device_message message, double now,
                                     const decode_settings& settings) {
    try {
        auto parsed = parse_payload(message.payload, settings);
        if (auto* rej = std::get_if<rejection>(&parsed)) return {{}, {std::move(*rej)}};
        return decode_document(message.device, std::get<nlohmann::json>(parsed), now, settings);
    } catch (...) {  // only allocation failure can get here
        return {{}, {{reject_reason::bad_json, "could not decode", {}, {}, {}}}};
    }
}

decoded_readings decode_readings(device_message message, double now,
                                 const decode_settings& settings) {
    // Nearly every reading is a flat object of known keys: decoding it without a DOM saves most
    // of the cost; whatever the fast path is unsure of takes the DOM path, so results never differ.
    try {
        if (auto fast = fast_decode_readings(message, now, settings)) {
            return std::move(*fast);
        }
    } catch (...) {  // only allocation failure can get here
        return {{}, {{reject_reason::bad_json, "could not decode", {}, {}, {}}}};
    }
    return dom_decode_readings(message, now, settings);
}

}  // namespace fogbridge
