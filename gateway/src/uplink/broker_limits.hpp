// What the cloud broker said about itself in its CONNACK (MQTT 5 properties). Plain data.
#pragma once

#include <cstdint>

namespace fogbridge {

struct broker_limits {
    int receive_maximum = 0;                // messages in flight at most (0 = not given)
    std::uint32_t maximum_packet_size = 0;  // bytes (0 = not given)
    bool retain_available = true;           // false: the broker refuses retained messages
    int server_keepalive = 0;               // seconds the broker imposes (0 = not given)
};

}  // namespace fogbridge
