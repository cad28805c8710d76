// A message as the local broker delivered it, before validation: what ingest hands the pipeline.
#pragma once

#include <string>

namespace fogbridge {

struct inbound_message {
    std::string topic;
    std::string payload;
};

}  // namespace fogbridge
