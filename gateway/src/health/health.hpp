// Renders the gateway's health payload (schemas/health.json) from its figures (ops/figures.hpp).
// Pure.
#pragma once

#include <string>

#include "ops/figures.hpp"

namespace fogbridge {

std::string health_payload(const gateway_figures& f);

}  // namespace fogbridge
