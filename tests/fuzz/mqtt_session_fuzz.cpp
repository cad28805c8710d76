// libFuzzer target: the local link's MQTT session (mqtt_session, mqtt_wire) as a stateful
// machine. The input is a script: broker bytes in arbitrary cuts, well-formed CONNACK, SUBACK,
// PUBLISH and PUBACK packets (so that the mutator gets past the handshake), publishes of our
// own, clock ticks, partial writes, reconnects. Checked: nothing escapes (errors come back in
// fed::error, of the network category); bytes left over after a feed are a packet within the bound,
// never more; what the session writes is strict MQTT 3.1.1 that our own parser accepts, CONNECT
// first; no PUBACK without a QoS 1 PUBLISH that asked for it; the queue of publishes stays bounded.
#include <fuzzer/FuzzedDataProvider.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "ingest/mqtt_session.hpp"
#include "ingest/mqtt_wire.hpp"

#define FOGBRIDGE_FUZZ_STR2(x) #x
#define FOGBRIDGE_FUZZ_STR(x) FOGBRIDGE_FUZZ_STR2(x)
#define FOGBRIDGE_FUZZ_CHECK(cond)                                                              \
    do {                                                                                        \
        if (!(cond)) broken(#cond " (mqtt_session_fuzz.cpp:" FOGBRIDGE_FUZZ_STR(__LINE__) ")"); \
    } while (false)

namespace {

namespace mqtt = fogbridge::mqtt;
using fogbridge::inbound_message;
using fogbridge::mqtt_session;
using namespace std::chrono_literals;

constexpr std::size_t max_packet = 600;  // small, so that inputs reach the bound

[[noreturn]] void broken(const char* what) {
    std::fprintf(stderr, "fogbridge fuzz: invariant broken: %s\n", what);
    std::abort();
}

mqtt_session::settings session_settings() {
    mqtt_session::settings s;
    s.connect.client_id = "fogbridge-gw-01";
    s.connect.keepalive = 10;
    s.connect.will_topic = "gateways/gw-01/status";
    s.connect.will_payload = "offline";
    s.subscriptions = {"devices/+/readings", "devices/+/alerts"};
    s.connack_timeout = 5s;
    s.max_packet_bytes = max_packet;
    return s;
}

// One connection as the broker would see it: what the session wrote, checked packet by packet.
struct wire_check {
    std::string unparsed;
    bool first = true;
    std::uint16_t subscribe_id = 0;
    std::size_t pubacks = 0;

    void take(std::string_view bytes) {
        unparsed.append(bytes);
        while (auto cut = mqtt::cut_packet(unparsed)) {  // throws on anything malformed
            check(cut->first);
            unparsed.erase(0, cut->second);
        }
        FOGBRIDGE_FUZZ_CHECK(unparsed.size() < mqtt::max_remaining_length);
    }

    void check(const mqtt::packet& p) {
        using mqtt::packet_type;
        FOGBRIDGE_FUZZ_CHECK(first == (p.type() == packet_type::connect));
        first = false;
        switch (p.type()) {
            case packet_type::connect:
            case packet_type::pingreq:
            case packet_type::disconnect:
                return;
            case packet_type::subscribe:
                FOGBRIDGE_FUZZ_CHECK(p.body.size() >= 2);
                subscribe_id =
                    static_cast<std::uint16_t>((static_cast<std::uint8_t>(p.body[0]) << 8U) |
                                               static_cast<std::uint8_t>(p.body[1]));
                FOGBRIDGE_FUZZ_CHECK(subscribe_id != 0);
                return;
            case packet_type::puback:
                mqtt::read_packet_id(p);
                ++pubacks;
                return;
            case packet_type::publish: {
                const auto m = mqtt::read_publish(p);
                FOGBRIDGE_FUZZ_CHECK(m.qos <= 1);
                return;
            }
            default:
                broken("the session wrote a packet type a client never sends");
        }
    }
};

class harness {
  public:
    explicit harness(FuzzedDataProvider& in) : in_(in), session_(session_settings()) {}

    void run() {
        reopen();
        while (in_.remaining_bytes() > 0) step(in_.ConsumeIntegralInRange<int>(0, 11));
        drain(session_.output().size());
        FOGBRIDGE_FUZZ_CHECK(session_.unacknowledged() <= mqtt_session::max_pending);
    }

  private:
    void step(int op) {
        switch (op) {
            case 0:  // broker bytes, any
                feed(in_.ConsumeBytesAsString(in_.ConsumeIntegralInRange<std::size_t>(0, 64)));
                return;
            case 1: {
                const std::uint8_t code =
                    in_.ConsumeBool() ? 0 : in_.ConsumeIntegral<std::uint8_t>();
                feed(std::string{'\x20', '\x02', static_cast<char>(in_.ConsumeBool()),
                                 static_cast<char>(code)});
                return;
            }
            case 2:
                feed(suback());
                return;
            case 3:
                feed(publish_packet());
                return;
            case 4: {  // a PUBACK, often for an id we used
                std::uint16_t id = in_.ConsumeIntegral<std::uint16_t>();
                if (!ids_.empty() && in_.ConsumeBool()) id = ids_[id % ids_.size()];
                std::string p;
                mqtt::append_puback(p, id == 0 ? 1 : id);
                feed(p);
                return;
            }
            case 5: {
                const int qos = in_.ConsumeIntegralInRange<int>(0, 1);
                const auto retain =
                    in_.ConsumeBool() ? fogbridge::retain::yes : fogbridge::retain::no;
                auto topic = in_.ConsumeBool() ? std::string("gateways/gw-01/status")
                                               : in_.ConsumeRandomLengthString(24);
                const auto id =
                    session_.publish(std::move(topic), in_.ConsumeRandomLengthString(32),
                                     {.qos = static_cast<fogbridge::qos>(qos), .retain = retain});
                FOGBRIDGE_FUZZ_CHECK((id == 0) == (qos == 0));
                if (id != 0) ids_.push_back(id);
                return;
            }
            case 6: {
                now_ += std::chrono::milliseconds(in_.ConsumeIntegralInRange<int>(0, 20000));
                if (session_.tick(now_)) reopen();
                FOGBRIDGE_FUZZ_CHECK(session_.until_tick(now_) > -1h);
                return;
            }
            case 7:
                drain(in_.ConsumeIntegralInRange<std::size_t>(0, session_.output().size()));
                return;
            case 8:
                reopen();
                return;
            case 9:  // stopping: nothing is handed over, nothing acknowledged
                stopping_ = in_.ConsumeBool();
                return;
            case 10:
                session_.disconnect();
                return;
            default:
                drain(session_.output().size());
                return;
        }
    }

    void reopen() {
        drain(session_.output().size());
        session_.closed();
        FOGBRIDGE_FUZZ_CHECK(!session_.connected() && !session_.subscribed());
        session_.open(now_);
        FOGBRIDGE_FUZZ_CHECK(!session_.connected());
        buffered_.clear();
        wire_ = wire_check{};
        handed_over_ = 0;
    }

    void drain(std::size_t n) {
        wire_.take(std::string_view(session_.output()).substr(0, n));
        session_.sent(n, now_);
        FOGBRIDGE_FUZZ_CHECK(wire_.pubacks <= handed_over_);
    }

    void feed(const std::string& bytes) {
        buffered_ += bytes;
        std::vector<inbound_message> arrived;
        const auto fed = session_.feed(buffered_, now_, stopping_ ? nullptr : &arrived);
        FOGBRIDGE_FUZZ_CHECK(fed.used <= buffered_.size());
        if (fed.error) {
            FOGBRIDGE_FUZZ_CHECK(fed.error.code().category() == fogbridge::net_category());
            handed_over_ += arrived.size();  // those before the bad packet are still acked
            reopen();                        // as local_link does: the connection goes
            return;
        }
        FOGBRIDGE_FUZZ_CHECK(arrived.size() == (stopping_ ? 0 : fed.messages));
        if (fed.connected) FOGBRIDGE_FUZZ_CHECK(session_.connected());
        if (fed.subscribed) FOGBRIDGE_FUZZ_CHECK(session_.subscribed());
        buffered_.erase(0, fed.used);
        // What is left is the start of one packet within the bound: never buffered beyond.
        FOGBRIDGE_FUZZ_CHECK(buffered_.size() < max_packet);
        handed_over_ += arrived.size();
    }

    std::string suback() {
        drain(session_.output().size());
        std::uint16_t id = wire_.subscribe_id;
        if (in_.ConsumeBool()) id = in_.ConsumeIntegral<std::uint16_t>();
        std::string codes;
        const auto n = in_.ConsumeIntegralInRange<std::size_t>(0, 3);
        for (std::size_t i = 0; i < n; ++i) {
            static constexpr char pick[] = {'\x01', '\x01', '\x02', '\x00', '\x80', '\x03'};
            codes.push_back(pick[in_.ConsumeIntegralInRange<std::size_t>(0, 5)]);
        }
        std::string p = {'\x90', static_cast<char>(2 + codes.size()), static_cast<char>(id >> 8U),
                         static_cast<char>(id & 0xFFU)};
        return p + codes;
    }

    std::string publish_packet() {
        const int qos = in_.ConsumeIntegralInRange<int>(0, 2);
        auto id = in_.ConsumeIntegral<std::uint16_t>();
        if (qos > 0 && id == 0 && in_.ConsumeBool()) id = 1;
        const auto topic = in_.ConsumeRandomLengthString(40);
        const auto size = in_.ConsumeIntegralInRange<std::size_t>(0, 2 * max_packet);
        std::string p;
        const auto retain = in_.ConsumeBool() ? fogbridge::retain::yes : fogbridge::retain::no;
        const auto dup = in_.ConsumeBool() ? mqtt::dup::yes : mqtt::dup::no;
        mqtt::append_publish(
            p, topic, std::string(size, 'p'),
            {.qos = static_cast<fogbridge::qos>(qos), .retain = retain, .dup = dup, .id = id});
        return p;
    }

    FuzzedDataProvider& in_;
    mqtt_session session_;
    mqtt_session::clock::time_point now_{};
    std::string buffered_;
    wire_check wire_;
    std::vector<std::uint16_t> ids_;
    std::size_t handed_over_ = 0;  // messages handed over on this connection: PUBACKs owed at most
    bool stopping_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    harness(in).run();
    return 0;
}
