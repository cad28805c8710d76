// Builds the gateway's health payload (schemas/health.json) from the parts' figures. Pure.
#pragma once

#include <string>

#include "ops/ops_figures.hpp"
#include "pipeline/pipeline.hpp"
#include "store/store.hpp"
#include "uplink/uplink.hpp"

namespace fogbridge {

struct health_inputs {
    std::string gateway_id;
    double now = 0;
    double started = 0;
    const pipeline_snapshot& pipeline;
    const uplink_status& uplink;
    const queue_stats& queue;
    bool stopping = false;
    const ops_figures* ops = nullptr;
};

std::string health_payload(const health_inputs& in);

}  // namespace fogbridge
