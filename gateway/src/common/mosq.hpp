// Small helpers for the libmosquitto client of the uplink. Thread-safe.
#pragma once

#include <mosquitto.h>

#include <string>

#include "common/endpoint.hpp"
#include "common/net_error.hpp"

namespace fogbridge {

// Calls mosquitto_lib_init() once per process.
void ensure_mosquitto_init();

// Applies user name and password when set.
void apply_credentials(mosquitto* m, const endpoint_settings& e, std::string_view what);

std::string mosq_error(int rc);
// A libmosquitto result code as a net_error, with libmosquitto's words.
net_error mosq_failure(int rc);

}  // namespace fogbridge
