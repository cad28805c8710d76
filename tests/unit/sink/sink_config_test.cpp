// fogbridge-sink configuration: the example file documents every key with its default, bad
// values stop with one line naming the key, environment overrides.
#include "sink_config.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <set>
#include <sstream>

using namespace fogbridge::sink;

namespace {

std::string example_text() {
    std::ifstream in(std::string(FOGBRIDGE_SOURCE_DIR) +
                     "/sink/config/fogbridge-sink.example.toml");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string error_of(const std::string& toml, const env_map& env = {}) {
    try {
        parse_config(toml, env);
    } catch (const config_error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("sink example config documents every key with its default") {
    const std::string text = example_text();
    REQUIRE(!text.empty());
    CHECK_NOTHROW(parse_config(text, {}));
    std::string section;
    std::set<std::string> in_file;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind('[', 0) == 0) section = line.substr(1, line.find(']') - 1);
        const auto eq = line.find(" = ");
        if (line.empty() || line[0] == '#' || eq == std::string::npos) continue;
        const std::string key = section + "." + line.substr(0, eq);
        in_file.insert(key);
        bool found = false;
        for (const auto& k : documented_keys()) {
            if (k.name != key) continue;
            found = true;
            CHECK_MESSAGE(line.substr(eq + 3) == k.default_value, key);
            CHECK_MESSAGE(text.find(k.help.substr(0, 30)) != std::string::npos, key);
        }
        CHECK_MESSAGE(found, key);
    }
    for (const auto& k : documented_keys()) CHECK_MESSAGE(in_file.count(k.name) == 1, k.name);
}

TEST_CASE("sink config errors name the key") {
    CHECK(error_of("[mqtt]\nport = 0\n").rfind("mqtt.port:", 0) == 0);
    CHECK(error_of("[mqtt]\nport = \"x\"\n").rfind("mqtt.port:", 0) == 0);
    CHECK(error_of("[mqtt]\nnope = 1\n").rfind("unknown key 'mqtt.nope'", 0) == 0);
    CHECK(error_of("[sink]\ndevice_owner = \"me\"\n").rfind("sink.device_owner:", 0) == 0);
    CHECK(error_of("[mqtt]\nshare_group = \"a/b\"\n").rfind("mqtt.share_group:", 0) == 0);
    CHECK(error_of("[database]\nschema = \"x; drop\"\n").rfind("database.schema:", 0) == 0);
    CHECK(
        error_of("", {{"FOGBRIDGE_SINK_MQTT_PORT", "abc"}}).rfind("FOGBRIDGE_SINK_MQTT_PORT:", 0) ==
        0);
    CHECK(error_of("", {{"FOGBRIDGE_SINK_MQTT_NOPE", "1"}})
              .rfind("FOGBRIDGE_SINK_MQTT_NOPE: no such", 0) == 0);
}

TEST_CASE("sink environment overrides the file") {
    const auto c =
        parse_config("[mqtt]\nport = 1883\n", {{"FOGBRIDGE_SINK_MQTT_PORT", "8884"},
                                               {"FOGBRIDGE_SINK_MQTT_SHARE_GROUP", "sinks"},
                                               {"FOGBRIDGE_SINK_SINK_MAX_READINGS", "5"}});
    CHECK(c.mqtt.port == 8884);
    CHECK(c.mqtt.share_group == "sinks");
    CHECK(c.sink.max_readings == 5);
}
