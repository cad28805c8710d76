// JSON encoding of the upstream batch, alert and device ack payloads (the hot path); thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/reading.hpp"
#include "common/seq_range.hpp"
#include "validate/alert.hpp"

namespace fogbridge {

// rows: one object per reading. columnar: per series (device, sensor, boot, unit) one object with
// seq, ts and value as arrays; see docs/batch-format.md.
enum class batch_layout { rows, columnar };

// "columnar" names the columnar layout; anything else (config checks the spelling) is rows.
batch_layout batch_layout_named(std::string_view name);

struct batch_view {
    std::string_view gateway;
    std::string_view batch_id;
    double created = 0.0;  // seconds since the epoch
    bool replay = false;   // true when re-sent after a missing PUBACK
    const std::vector<reading>& readings;
    const std::vector<seq_range>& ranges;
    batch_layout layout = batch_layout::rows;
};

// {"gateway":..,"batch_id":..,"created":..,"replay":..,"readings":[{"device":..,"sensor":..,
//  "value":..,"unit":..,"ts":..,"boot":..,"seq":..},..],"ranges":[{"device":..,"boot":..,
//  "first":..,"last":..},..]}; "unit" is left out when empty. Doubles in shortest round-trip
// form; a non-finite double (which validation never lets through) is written as null.
// Columnar batches carry "layout":"columnar" and "series" in place of "readings"; a columnar
// encoding that would be longer than the rows one (many one-reading series) goes out as rows, so
// the size the lease counted (encoded_size per reading) bounds either layout.
std::string encode_batch(const batch_view& batch);

// The columnar encoding alone, whatever its size (tests, the bench).
std::string encode_batch_columnar(const batch_view& batch);

// Bytes the reading's object takes in a batch, plus 1 for its comma.
std::size_t encoded_size(const reading& r);

// {"boot":7,"seq":1042}, published on devices/<id>/ack.
std::string encode_ack(std::uint64_t boot, std::uint64_t seq);

// {"gateway":..,"device":..,"sensor":..,"value":..,"threshold":..,"unit":..,"rule":..,"ts":..,
//  "boot":..,"seq":..}, optional members left out when absent or empty.
std::string encode_alert(std::string_view gateway, const alert& a);

}  // namespace fogbridge
