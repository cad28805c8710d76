// How a message is published (QoS, retained), named at the call site instead of a run of
// literals: publish(topic, payload, {.qos = qos::at_least_once, .retain = retain::yes}).
// Plain values; thread-safe.
#pragma once

#include <cstdint>

namespace fogbridge {

enum class qos : std::uint8_t { at_most_once = 0, at_least_once = 1 };
enum class retain : bool { no = false, yes = true };

struct publish_options {
    fogbridge::qos qos = qos::at_most_once;
    fogbridge::retain retain = retain::no;
};

}  // namespace fogbridge
