// Health's last_error fields: the log's text for dashboards and the typed code beside it.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "common/status_error.hpp"
#include "health/code_name.hpp"
#include "health/health.hpp"
#include "store/store_error.hpp"
#include "uplink_engine_harness.hpp"

using namespace fogbridge;
using namespace fogbridge::test;
using nlohmann::json;

TEST_CASE("health: after failures last_error holds the text and last_error_code the code") {
    harness h;
    gateway_figures f;
    f.uplink = h.engine.status();
    const auto before = json::parse(health_payload(f));
    CHECK(before["uplink"]["last_error"] == "");
    CHECK(before["uplink"]["last_error_code"].is_null());
    CHECK(before["store"]["last_error_code"].is_null());

    h.run();
    h.advance(3.1);  // no CONNACK within cloud.connect_timeout
    f.uplink = h.engine.status();
    f.store.last_error = {.code = store_errc::full, .text = "database or disk is full"};
    const auto after = json::parse(health_payload(f));
    CHECK(after["uplink"]["last_error"].get<std::string>().find("CONNACK") != std::string::npos);
    CHECK(after["uplink"]["last_error_code"] == "net.timed_out");
    CHECK(after["store"]["last_error"] == "database or disk is full");
    CHECK(after["store"]["last_error_code"] == "store.full");
}

TEST_CASE("status_error: empty means none; code names are category.name") {
    CHECK_FALSE(status_error{});
    CHECK(status_error{.code = net_errc::peer_closed, .text = "closed"});
    CHECK(code_name({}).empty());
    CHECK(code_name(net_errc::credentials_rotated) == "net.credentials_rotated");
    CHECK(code_name(store_errc::io) == "store.io");
    CHECK(code_name(std::make_error_code(std::errc::io_error)) == "generic.5");
}
