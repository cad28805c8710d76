#include "config/config.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

using namespace fogbridge;

namespace {

const std::string example_path =
    std::string(FOGBRIDGE_SOURCE_DIR) + "/gateway/config/fogbridge.example.toml";

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// Both links over TLS, as every config must say unless it asks for plain TCP.
env_map with_tls(env_map env) {
    env.emplace("FOGBRIDGE_LOCAL_CA_FILE", "ca.crt");
    env.emplace("FOGBRIDGE_CLOUD_CA_FILE", "ca.crt");
    return env;
}

std::string error_of(std::string_view text, const env_map& env = {}) {
    try {
        parse_config(text, with_tls(env), "test.toml");
    } catch (const config_error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("the example configuration parses and documents every key") {
    const auto cfg = load_config(example_path, {});
    CHECK(cfg.id == "gw-01");
    CHECK(cfg.cloud.mqtt_version == 5);
    CHECK(cfg.store.synchronous == sync_mode::full);
    REQUIRE(cfg.filter.rules.size() == 6);
    CHECK(cfg.filter.rules[0].match == "*/temperature");
    CHECK(cfg.filter.rules[0].deadband == doctest::Approx(0.1));
    CHECK(cfg.filter.rules[3].deadband == doctest::Approx(10));
    CHECK(cfg.filter.rules[5].match == "*/occupancy");
    CHECK(cfg.filter.default_rule.heartbeat == doctest::Approx(600));
    const auto text = read_file(example_path);
    for (const auto& k : documented_keys()) {
        const auto key = k.name.substr(k.name.rfind('.') + 1);
        INFO(k.name);
        // Scalar keys appear as assignments; rule keys in the comment that explains a rule.
        const bool rule_key = k.name.rfind("filter.rules.", 0) == 0;
        CHECK(text.find((rule_key ? "\n#   " : "\n") + key + " ") != std::string::npos);
        CHECK_FALSE(k.help.empty());
    }
}

TEST_CASE("defaults apply when the file is empty") {
    const auto cfg = parse_config("", with_tls({}));
    CHECK(cfg.local.client_id == "fogbridge-gw-01");
    CHECK(cfg.cloud.window == 8);
    CHECK(cfg.batch.max_readings == 1000);
    CHECK(cfg.filter.rules.empty());
}

TEST_CASE("unknown keys and sections are refused with their name and line") {
    CHECK(error_of("[cloud]\nhost = \"x\"\nhots = \"y\"\n") == "unknown key 'cloud.hots' (line 3)");
    CHECK(error_of("[clowd]\nhost = \"x\"\n") == "unknown section 'clowd' (line 1)");
    CHECK(error_of("[[filter.rules]]\nmatch = \"*/t\"\ndeadbnd = 1\n") ==
          "unknown key 'filter.rules[0].deadbnd' (line 3)");
}

TEST_CASE("wrong types and values name the key") {
    CHECK(error_of("[cloud]\nport = \"x\"\n") == "cloud.port: expected an integer (line 2)");
    CHECK(error_of("[cloud]\nport = 70000\n").rfind("cloud.port: 70000 is out of range", 0) == 0);
    CHECK(error_of("[cloud]\nmqtt_version = \"4\"\n").rfind("cloud.mqtt_version:", 0) == 0);
    CHECK(error_of("[store]\nsynchronous = \"off\"\n").rfind("store.synchronous:", 0) == 0);
    CHECK(error_of("[gateway]\nid = \"gw/1\"\n").rfind("gateway.id:", 0) == 0);
    CHECK(error_of("[local]\ncert_file = \"a\"\n").rfind("local.cert_file and local.key_file", 0) ==
          0);
    CHECK(error_of("[[filter.rules]]\nmatch = \"*/t\"\nmode = \"swinging_door\"\n")
              .rfind("filter.rules[0].deviation", 0) == 0);
    CHECK(error_of("[cloud\n").rfind("test.toml:", 0) == 0);
    CHECK(error_of("[store]\nmax_rows = 3999\n") ==
          "store.max_rows: 3999 is below 2 x pipeline.max_group (4000); a group could never fit");
    CHECK(error_of("[store]\nmax_rows = 399\n[pipeline]\nmax_group = 200\n")
              .rfind("store.max_rows:", 0) == 0);
    CHECK(error_of("[store]\nmax_rows = 400\n[pipeline]\nmax_group = 200\n").empty());
    CHECK(
        error_of("[batch]\nreplay_rate = -1\n").rfind("batch.replay_rate: -1 is out of range", 0) ==
        0);
}

TEST_CASE("replay pace and progress pruning") {
    const auto cfg =
        parse_config("[batch]\nreplay_rate = 250\n[store]\nprune_after_s = 0\n", with_tls({}));
    CHECK(cfg.batch.replay_rate == 250);
    CHECK(cfg.store.prune_after_s == 0);
    const auto defaults = parse_config("", with_tls({}));
    CHECK(defaults.batch.replay_rate == 0);
    CHECK(defaults.store.prune_after_s == 7 * 86400.0);
}

TEST_CASE("environment variables override keys") {
    const auto cfg =
        parse_config("[cloud]\nhost = \"a\"\nport = 1\n",
                     with_tls({{"FOGBRIDGE_CLOUD_HOST", "broker.example"},
                               {"FOGBRIDGE_CLOUD_PORT", "8883"},
                               {"FOGBRIDGE_STORE_SYNCHRONOUS", "normal"},
                               {"FOGBRIDGE_CLOUD_VERIFY_HOSTNAME", "false"},
                               {"FOGBRIDGE_BUILD_DIR", "ignored: not a config section"}}));
    CHECK(cfg.cloud.endpoint.host == "broker.example");
    CHECK(cfg.cloud.endpoint.port == 8883);
    CHECK(cfg.store.synchronous == sync_mode::normal);
    CHECK_FALSE(cfg.cloud.endpoint.tls.verify_hostname);
    CHECK(error_of("", {{"FOGBRIDGE_CLOUD_PORT", "eighty"}}) ==
          "FOGBRIDGE_CLOUD_PORT: expected an integer, got 'eighty'");
    CHECK(error_of("", {{"FOGBRIDGE_CLOUD_HOTS", "x"}}) ==
          "FOGBRIDGE_CLOUD_HOTS: no such configuration key");
}

TEST_CASE("fail closed: plain TCP only when the config says so") {
    CHECK(error_of("", {{"FOGBRIDGE_LOCAL_CA_FILE", ""}}) ==
          "local.ca_file: must name the broker's CA file (for an unencrypted link set "
          "local.plain_tcp = true)");
    CHECK(error_of("", {{"FOGBRIDGE_CLOUD_CA_FILE", ""}}).rfind("cloud.ca_file: must name", 0) ==
          0);
    CHECK(error_of("[local]\nplain_tcp = true\n") ==
          "local.plain_tcp: true, but local.ca_file is set; choose one");
    const auto cfg = parse_config("[local]\nplain_tcp = true\n[cloud]\nplain_tcp = true\n", {});
    CHECK(cfg.local.plain_tcp);
    CHECK(cfg.local.tls.ca_file.empty());
    CHECK(cfg.cloud.endpoint.plain_tcp);
    CHECK(error_of("[local]\nplain_tcp = true\n", {{"FOGBRIDGE_LOCAL_CA_FILE", ""}}).empty());
    // A tool that reads only the filter rules takes a file without TLS settings.
    CHECK_NOTHROW(parse_config("", {}, "rules.toml", link_check::skipped));
}

TEST_CASE("quotas per device and a free-space floor are on by default") {
    const auto cfg = parse_config("", with_tls({}));
    CHECK(cfg.validate.max_series_per_device == 1000);
    CHECK(cfg.validate.max_boots_per_device == 16);
    CHECK(cfg.validate.alerts_per_s > 0);
    CHECK(cfg.validate.health_per_s > 0);
    CHECK(cfg.store.min_free_bytes == 64U << 20);
    const auto set = parse_config(
        "[validate]\nmax_series_per_device = 5\nmax_boots_per_device = 0\nboot_idle_s = 1\n"
        "alerts_per_s = 0\nhealth_per_s = 3\nhealth_burst = 4\n",
        with_tls({}));
    CHECK(set.validate.max_series_per_device == 5);
    CHECK(set.validate.max_boots_per_device == 0);
    CHECK(set.validate.alerts_per_s == 0);
    CHECK(set.validate.health_burst == 4);
    CHECK(error_of("[validate]\nalerts_burst = 0\n").rfind("validate.alerts_burst: 0 is out", 0) ==
          0);
}

TEST_CASE("local.max_packet_bytes leaves room for the largest device payload") {
    CHECK(parse_config("", with_tls({})).local.max_packet_bytes == 262144);
    CHECK_THROWS_WITH_AS(parse_config("[local]\nmax_packet_bytes = 60000\n", with_tls({})),
                         doctest::Contains("local.max_packet_bytes: 60000 is below"), config_error);
    CHECK(
        parse_config("[local]\nmax_packet_bytes = 65792\n", with_tls({})).local.max_packet_bytes ==
        65792);
    CHECK_THROWS_AS(parse_config("", with_tls({{"FOGBRIDGE_LOCAL_MAX_PACKET_BYTES", "512"}})),
                    config_error);
}

TEST_CASE("a table header with no key is a config error naming its line (found by fuzzing)") {
    CHECK_THROWS_WITH_AS(parse_config("[=store]\n", {}), doctest::Contains("(line 1)"),
                         config_error);
    CHECK_THROWS_WITH_AS(parse_config("[store]\nmax_bytes = 0e9\n[=x]\n", {}),
                         doctest::Contains("(line 3)"), config_error);
}

TEST_CASE("batch.layout: auto follows cloud.compression; a bad value names the key") {
    CHECK(parse_config("", with_tls({})).batch.layout == "rows");
    CHECK(parse_config("[cloud]\ncompression = \"zstd\"\n", with_tls({})).batch.layout ==
          "columnar");
    CHECK(
        parse_config("[cloud]\ncompression = \"zstd\"\n[batch]\nlayout = \"rows\"\n", with_tls({}))
            .batch.layout == "rows");
    CHECK(parse_config("[batch]\nlayout = \"columnar\"\n", with_tls({})).batch.layout ==
          "columnar");
    CHECK(parse_config("[cloud]\ncompression = \"zstd\"\nmqtt_version = \"3.1.1\"\n", with_tls({}))
              .cloud.compression == fogbridge::compression::zstd);
    CHECK(error_of("[batch]\nlayout = \"cols\"\n").rfind("batch.layout:", 0) == 0);
    CHECK(error_of("[cloud]\ncompression = \"lz4\"\n") ==
          "cloud.compression: 'lz4' is not \"none\" or \"zstd\"");
}
