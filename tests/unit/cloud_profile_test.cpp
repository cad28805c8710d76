#include "config/cloud_profile.hpp"

#include <doctest/doctest.h>

#include "config/config.hpp"

using namespace fogbridge;

namespace {

env_map with_tls(env_map env) {
    env.emplace("FOGBRIDGE_LOCAL_CA_FILE", "ca.crt");
    env.emplace("FOGBRIDGE_CLOUD_CA_FILE", "ca.crt");
    return env;
}

gateway_config cloud(const std::string& lines, const env_map& env = {}) {
    return parse_config("[cloud]\n" + lines, with_tls(env), "test.toml");
}

std::string error_of(const std::string& lines, const env_map& env = {}) {
    try {
        cloud(lines, env);
    } catch (const config_error& e) {
        return e.what();
    }
    return "";
}

std::string topic_of(const gateway_config& c, upstream_stream s, std::string_view device = {}) {
    return upstream_topic(c.cloud, c.id, s, device);
}

const cloud_profile& profile(std::string_view name) {
    const auto* p = find_cloud_profile(name);
    REQUIRE(p != nullptr);
    return *p;
}

}  // namespace

TEST_CASE("render_topic fills the placeholders and refuses others") {
    const topic_values v{"fb", "gw-1", "dev:1", "batch"};
    CHECK(render_topic("{prefix}/{gateway}/{stream}", v) == "fb/gw-1/batch");
    CHECK(render_topic("x/{device}/y", v) == "x/dev:1/y");
    CHECK(render_topic("e/stream={stream}&device={device}", v, value_encoding::url) ==
          "e/stream=batch&device=dev%3A1");
    CHECK(render_topic("plain", v) == "plain");
    CHECK_FALSE(render_topic("{prefix}/{gw}", v));
    CHECK_FALSE(render_topic("{prefix", v));
    CHECK_FALSE(render_topic("prefix}", v));
}

TEST_CASE("url_encode keeps the unreserved characters only") {
    CHECK(url_encode("aZ09-._~") == "aZ09-._~");
    CHECK(url_encode("application/json") == "application%2Fjson");
    CHECK(url_encode("a b&c=$") == "a%20b%26c%3D%24");
}

TEST_CASE("the Azure property bag carries content type and batch id") {
    CHECK(azure_property_bag({.batch_id = "gw-1:7", .content_type = "application/json"}) ==
          "$.ct=application%2Fjson&batch_id=gw-1%3A7");
    CHECK(azure_property_bag(
              {.batch_id = "b1", .content_type = "application/json", .content_encoding = "zstd"}) ==
          "$.ct=application%2Fjson&$.ce=zstd&batch_id=b1");
    CHECK(with_property_bag("devices/gw/messages/events/", "a=1") ==
          "devices/gw/messages/events/a=1");
    CHECK(with_property_bag("devices/gw/messages/events/stream=batch", "a=1") ==
          "devices/gw/messages/events/stream=batch&a=1");
}

TEST_CASE("every topic rule names itself") {
    const auto& generic = profile("generic");
    CHECK_FALSE(topic_problem(generic, {.topic = "a/b/c", .client_id = "x"}));
    CHECK(topic_problem(generic, {.topic = "", .client_id = "x"}));
    CHECK(topic_problem(generic, {.topic = "a/+/c", .client_id = "x"})->find("wildcard") !=
          std::string::npos);
    CHECK(topic_problem(generic, {.topic = "a/#", .client_id = "x"})->find("wildcard") !=
          std::string::npos);
    CHECK(topic_problem(generic, {.topic = "$SYS/x", .client_id = "x"})->find("start with $") !=
          std::string::npos);
    CHECK(topic_problem(generic, {.topic = "a/\xC3(", .client_id = "x"})->find("UTF-8") !=
          std::string::npos);
    CHECK(topic_problem(generic, {.topic = std::string("a\0b", 3), .client_id = "x"})
              ->find("UTF-8") != std::string::npos);
    CHECK_FALSE(
        topic_problem(generic, {.topic = "caf\xC3\xA9/\xF0\x9F\x8C\xA1", .client_id = "x"}));

    const auto& aws = profile("aws-iot-core");
    CHECK_FALSE(topic_problem(aws, {.topic = "1/2/3/4/5/6/7/8", .client_id = "x"}));
    CHECK(*topic_problem(aws, {.topic = "1/2/3/4/5/6/7/8/9", .client_id = "x"}) ==
          "aws-iot-core allows at most 7 slashes in a topic");
    CHECK(*topic_problem(aws, {.topic = std::string(257, 'a'), .client_id = "x"}) ==
          "aws-iot-core allows topics of at most 256 bytes");
    // Basic Ingest: the $aws/rules/<rule>/ prefix is allowed and its slashes do not count.
    CHECK_FALSE(
        topic_problem(aws, {.topic = "$aws/rules/ingest/1/2/3/4/5/6/7/8", .client_id = "x"}));
    CHECK(topic_problem(aws, {.topic = "$aws/things/x/shadow/update", .client_id = "x"})
              ->find("$aws/rules/") != std::string::npos);

    const auto& hub = profile("azure-iot-hub");
    CHECK_FALSE(topic_problem(hub, {.topic = "devices/gw/messages/events/a=b", .client_id = "gw"}));
    CHECK(*topic_problem(hub, {.topic = "devices/other/messages/events/", .client_id = "gw"}) ==
          "azure-iot-hub takes messages only on devices/gw/messages/events/<property bag>");
    CHECK(topic_problem(profile("azure-event-grid"), {.topic = "$x/y", .client_id = "gw"}));
    CHECK(topic_problem(profile("emqx"), {.topic = std::string(128, '/') + "a", .client_id = "gw"})
              ->find("127 slashes") != std::string::npos);
}

TEST_CASE("generic keeps the topics and limits of before") {
    const auto c = cloud("");
    CHECK(c.cloud.profile == "generic");
    CHECK(c.cloud.mqtt_version == 5);
    CHECK(c.cloud.retain_status);
    CHECK(c.cloud.max_message_bytes == 268435455);
    CHECK(c.cloud.publish_rate == 0);
    CHECK(c.cloud.endpoint.client_id == "fogbridge-gw-01");
    CHECK(topic_of(c, upstream_stream::batch) == "fogbridge/gw-01/batch");
    CHECK(topic_of(c, upstream_stream::gaps) == "fogbridge/gw-01/gaps");
    CHECK(topic_of(c, upstream_stream::alerts) == "fogbridge/gw-01/alerts");
    CHECK(topic_of(c, upstream_stream::health) == "fogbridge/gw-01/health");
    CHECK(topic_of(c, upstream_stream::status) == "fogbridge/gw-01/status");
    CHECK(topic_of(c, upstream_stream::device_health, "d1") == "fogbridge/gw-01/devices/d1/health");
}

TEST_CASE("aws-iot-core: 128 KB, 100 in flight and a second, thing name, ALPN on 443") {
    const auto c = cloud("profile = \"aws-iot-core\"\nport = 443\n");
    CHECK(c.cloud.max_message_bytes == 131072);
    CHECK(c.cloud.publish_rate == 100);
    CHECK(c.cloud.mqtt_version == 5);
    CHECK(c.cloud.retain_status);
    CHECK(c.cloud.endpoint.client_id == "gw-01");
    CHECK(c.cloud.endpoint.tls.alpn == "x-amzn-mqtt-ca");
    CHECK(cloud("profile = \"aws-iot-core\"\n").cloud.endpoint.tls.alpn.empty());
    CHECK(topic_of(c, upstream_stream::batch) == "fogbridge/gw-01/batch");
    CHECK(error_of("profile = \"aws-iot-core\"\nkeepalive = 10\n") ==
          "cloud.keepalive = 10: aws-iot-core allows 30-1200 s");
    CHECK(error_of("profile = \"aws-iot-core\"\nwindow = 200\n") ==
          "cloud.window = 200: aws-iot-core allows at most 100 unacknowledged publishes");
    CHECK(error_of("profile = \"aws-iot-core\"\nmax_message_bytes = 262144\n") ==
          "cloud.max_message_bytes = 262144: aws-iot-core takes 1024 to 131072 payload bytes");
    CHECK(error_of("profile = \"aws-iot-core\"\npublish_rate = 500\n") ==
          "cloud.publish_rate = 500: aws-iot-core allows at most 100 publishes a second");
    CHECK(error_of("profile = \"aws-iot-core\"\nport = 443\nalpn = \"mqtt\"\n") ==
          "cloud.alpn = \"mqtt\": aws-iot-core takes MQTT on port 443 only with ALPN "
          "x-amzn-mqtt-ca");
    CHECK(error_of("profile = \"aws-iot-core\"\nclient_id = \"gw.01\"\n") ==
          "cloud.client_id = \"gw.01\": aws-iot-core takes the thing name ([A-Za-z0-9:_-], 1-128 "
          "bytes)");
    CHECK(error_of("profile = \"aws-iot-core\"\n[cloud.topics]\nbatch = \"a/b/c/d/e/f/g/{prefix}/"
                   "{stream}\"\n")
              .find("aws-iot-core allows at most 7 slashes") != std::string::npos);
    CHECK(cloud("profile = \"aws-iot-core\"\n[cloud.topics]\nbatch = "
                "\"$aws/rules/fog/{gateway}/{stream}\"\n")
              .cloud.topics.at(0) == "$aws/rules/fog/{gateway}/{stream}");
}

TEST_CASE("azure-iot-hub: MQTT 3.1.1, fixed topic, user name form, no retain") {
    const auto c = cloud("profile = \"azure-iot-hub\"\nhost = \"hub1.azure-devices.net\"\n");
    CHECK(c.cloud.mqtt_version == 4);
    CHECK_FALSE(c.cloud.retain_status);
    CHECK(c.cloud.max_message_bytes == 261120);
    CHECK(c.cloud.endpoint.client_id == "gw-01");
    CHECK(c.cloud.endpoint.username == "hub1.azure-devices.net/gw-01/?api-version=2021-04-12");
    CHECK(topic_of(c, upstream_stream::batch) == "devices/gw-01/messages/events/stream=batch");
    CHECK(topic_of(c, upstream_stream::device_health, "d:1") ==
          "devices/gw-01/messages/events/stream=device_health&device=d%3A1");
    CHECK(error_of("profile = \"azure-iot-hub\"\nmqtt_version = \"5\"\n") ==
          "cloud.mqtt_version = \"5\": azure-iot-hub speaks MQTT 3.1.1 only");
    CHECK(error_of("profile = \"azure-iot-hub\"\nretain = \"true\"\n") ==
          "cloud.retain = \"true\": azure-iot-hub keeps no retained messages");
    CHECK(error_of("profile = \"azure-iot-hub\"\nport = 443\n").rfind("cloud.port = 443:", 0) == 0);
    CHECK(error_of("profile = \"azure-iot-hub\"\nkeepalive = 1800\n") ==
          "cloud.keepalive = 1800: azure-iot-hub allows 5-1177 s");
    CHECK(error_of("profile = \"azure-iot-hub\"\nhost = \"h\"\nusername = \"gw-01\"\n") ==
          "cloud.username = \"gw-01\": azure-iot-hub takes the user name "
          "h/gw-01/?api-version=...");
    // A newer API version is the user's to choose.
    CHECK_NOTHROW(
        cloud("profile = \"azure-iot-hub\"\nhost = \"h\"\n"
              "username = \"h/gw-01/?api-version=2025-01-01\"\n"));
    CHECK(error_of("profile = \"azure-iot-hub\"\nclient_id = \"other\"\n")
              .find("takes messages only on devices/other/messages/events/") != std::string::npos);
    CHECK(error_of("profile = \"azure-iot-hub\"\n[cloud.topics]\nalerts = \"fb/{gateway}\"\n")
              .rfind("cloud.topics.alerts = \"fb/{gateway}\" makes fb/gw-01:", 0) == 0);
}

TEST_CASE("azure-event-grid: 512 KiB packets, no retain by default, user name = client") {
    const auto c = cloud("profile = \"azure-event-grid\"\n");
    CHECK(c.cloud.mqtt_version == 5);
    CHECK_FALSE(c.cloud.retain_status);
    CHECK(c.cloud.max_message_bytes == 523264);
    CHECK(c.cloud.publish_rate == 1000);
    CHECK(c.cloud.endpoint.username == c.cloud.endpoint.client_id);
    // The authentication name may differ from the session's client id.
    CHECK(
        cloud("profile = \"azure-event-grid\"\nusername = \"auth-1\"\n").cloud.endpoint.username ==
        "auth-1");
    CHECK(cloud("profile = \"azure-event-grid\"\nmqtt_version = \"3.1.1\"\n").cloud.mqtt_version ==
          4);
    CHECK(error_of("profile = \"azure-event-grid\"\nkeepalive = 1200\n") ==
          "cloud.keepalive = 1200: azure-event-grid allows 5-1160 s");
    CHECK(error_of("profile = \"azure-event-grid\"\nwindow = 1001\n") ==
          "cloud.window = 1001: azure-event-grid allows at most 1000 unacknowledged publishes");
    CHECK(error_of("profile = \"azure-event-grid\"\ntopic_prefix = \"$fb\"\n")
              .find("keeps topics that start with $") != std::string::npos);
}

TEST_CASE("hivemq and emqx: MQTT 5, retain, their size limits") {
    const auto h = cloud("profile = \"hivemq\"\n");
    CHECK(h.cloud.mqtt_version == 5);
    CHECK(h.cloud.retain_status);
    CHECK(h.cloud.max_message_bytes == 262144);
    const auto e = cloud("profile = \"emqx\"\n");
    CHECK(e.cloud.max_message_bytes == 1047552);
    CHECK(cloud("profile = \"emqx\"\nwindow = 64\n").cloud.window == 64);
    CHECK(topic_of(e, upstream_stream::status) == "fogbridge/gw-01/status");
}

TEST_CASE("the batch size limit holds without MQTT 5") {
    const auto generic = cloud("");
    CHECK(upstream_payload_limit(generic.cloud, generic.batch.max_bytes, {}) ==
          generic.batch.max_bytes);
    CHECK(upstream_payload_limit(generic.cloud, generic.batch.max_bytes,
                                 {.maximum_packet_size = 65536}) == 65536 - 1024);
    const auto aws = cloud("profile = \"aws-iot-core\"\n");
    CHECK(upstream_payload_limit(aws.cloud, aws.batch.max_bytes, {}) == 131072);
    CHECK(upstream_payload_limit(aws.cloud, aws.batch.max_bytes,
                                 {.maximum_packet_size = 1048576}) == 131072);
}

TEST_CASE("profile keys: unknown profiles and values, templates, environment") {
    CHECK(error_of("profile = \"gcp\"\n") ==
          "cloud.profile: \"gcp\" is not one of \"generic\", \"aws-iot-core\", "
          "\"azure-iot-hub\", \"azure-event-grid\", \"hivemq\", \"emqx\"");
    CHECK(error_of("retain = \"yes\"\n").rfind("cloud.retain:", 0) == 0);
    CHECK(error_of("max_message_bytes = 100\n").rfind("cloud.max_message_bytes = 100:", 0) == 0);
    CHECK(error_of("[cloud.topics]\nbatch = \"{prefix}/{gw}\"\n") ==
          "cloud.topics.batch = \"{prefix}/{gw}\": placeholders are {prefix}, {gateway}, "
          "{device} and {stream}");
    CHECK(error_of("[cloud.topics]\nbatch = \"a/+/b\"\n").find("wildcard") != std::string::npos);
    CHECK(error_of("[cloud.topics]\nbach = \"x\"\n") == "unknown key 'cloud.topics.bach' (line 3)");
    const auto c = cloud("", {{"FOGBRIDGE_CLOUD_PROFILE", "emqx"},
                              {"FOGBRIDGE_CLOUD_TOPICS_BATCH", "up/{gateway}/b"}});
    CHECK(c.cloud.profile == "emqx");
    CHECK(topic_of(c, upstream_stream::batch) == "up/gw-01/b");
    CHECK(topic_of(c, upstream_stream::gaps) == "fogbridge/gw-01/gaps");
    CHECK(to_string(upstream_stream::device_health) == "device_health");
}

TEST_CASE("a device message that could not fit one upstream message is refused at start") {
    CHECK(error_of("profile = \"aws-iot-core\"\n",
                   {{"FOGBRIDGE_VALIDATE_MAX_PAYLOAD_BYTES", "131072"}})
              .rfind("validate.max_payload_bytes = 131072: above cloud.max_message_bytes", 0) == 0);
    CHECK(error_of("profile = \"aws-iot-core\"\n",
                   {{"FOGBRIDGE_VALIDATE_MAX_PAYLOAD_BYTES", "65536"}}) == "");
}
