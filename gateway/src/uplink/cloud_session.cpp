#include "uplink/cloud_session.hpp"

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <poll.h>

#include <array>
#include <stdexcept>

#include "common/log.hpp"
#include "common/mosq.hpp"

namespace fogbridge {

cloud_session::cloud_session(cloud_settings settings, ssl_ctx_st* tls, std::string will_topic,
                             session_events events)
    : settings_(std::move(settings)),
      will_topic_(std::move(will_topic)),
      events_(std::move(events)) {
    ensure_mosquitto_init();
    // clean start: the store, not the broker session, is what holds unacknowledged data.
    mosq_ = mosquitto_new(settings_.endpoint.client_id.c_str(), true, this);
    if (mosq_ == nullptr) throw std::runtime_error("cloud broker: cannot create an MQTT client");
    mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION,
                         settings_.mqtt_version == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
    // Batches are large and few: without this Nagle meets delayed ACK and stalls each one ~40 ms.
    mosquitto_int_option(mosq_, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_max_inflight_messages_set(mosq_, 0);  // our window is the limit, not libmosquitto's
    mosquitto_connect_v5_callback_set(mosq_, &cloud_session::on_connect);
    mosquitto_publish_v5_callback_set(mosq_, &cloud_session::on_publish);
    mosquitto_disconnect_v5_callback_set(mosq_, &cloud_session::on_disconnect);
    mosquitto_log_callback_set(mosq_, &cloud_session::on_log);
    if (tls != nullptr) {
        // Our own context: checked credentials, TLS >= 1.2, host name verification by OpenSSL.
        mosquitto_void_option(mosq_, MOSQ_OPT_SSL_CTX, tls);
        mosquitto_int_option(mosq_, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0);
    }
    apply_credentials(mosq_, settings_.endpoint, "cloud broker");
    const std::string offline = "offline";
    mosquitto_will_set(mosq_, will_topic_.c_str(), static_cast<int>(offline.size()), offline.data(),
                       1, settings_.retain_status);
}

cloud_session::~cloud_session() {
    if (alive_) mosquitto_disconnect(mosq_);
    mosquitto_destroy(mosq_);
}

void cloud_session::note(net_error e) {
    if (!failure_) failure_ = std::move(e);
}

net_error cloud_session::gone() const {
    return failure_ ? failure_ : net_error(net_errc::connection_lost);
}

net_error cloud_session::connect() {
    const auto& e = settings_.endpoint;
    const int rc = mosquitto_connect_async(mosq_, e.host.c_str(), e.port, e.keepalive);
    if (rc != MOSQ_ERR_SUCCESS) {
        note(mosq_failure(rc));
        return gone();
    }
    alive_ = true;
    return {};
}

net_error cloud_session::run(int timeout_ms) {
    if (!alive_) return gone();
    const int rc = mosquitto_loop(mosq_, timeout_ms, 1);
    if (rc != MOSQ_ERR_SUCCESS) {
        note(mosq_failure(rc));
        alive_ = false;
    } else if (!connack_ && socket_closed()) {
        // libmosquitto 2.0.11 takes EPIPE from SSL_connect as "try again": on a refused or reset
        // connection it would retry the handshake without waiting, at full CPU, until
        // connect_timeout. The loop above had its chance to read a TLS alert; end it here.
        alive_ = false;
    }
    return alive_ ? net_error() : gone();
}

bool cloud_session::socket_closed() {
    const int fd = mosquitto_socket(mosq_);
    if (fd < 0) return false;
    pollfd p{fd, POLLIN | POLLOUT, 0};
    if (::poll(&p, 1, 0) <= 0) return false;
    // POLLERR: an error is still pending, and libmosquitto's next read or write reports it (a
    // TLS alert, a reset) better than we can. Reading SO_ERROR here would clear it.
    if ((p.revents & POLLHUP) == 0 || (p.revents & POLLERR) != 0) return false;
    note({net_errc::connect_refused, "connection refused or reset before CONNACK"});
    return true;
}

std::optional<int> cloud_session::publish(const std::string& topic, std::string_view payload,
                                          fogbridge::retain retain, compression encoding) {
    mosquitto_property* props = nullptr;
    if (settings_.mqtt_version == 5) {
        mosquitto_property_add_string(&props, MQTT_PROP_CONTENT_TYPE, "application/json");
        if (encoding == compression::zstd) {
            mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, "content-encoding",
                                               "zstd");
        }
    }
    int mid = 0;
    const int rc =
        mosquitto_publish_v5(mosq_, &mid, topic.c_str(), static_cast<int>(payload.size()),
                             payload.data(), 1, retain == retain::yes, props);
    mosquitto_property_free_all(&props);
    if (rc != MOSQ_ERR_SUCCESS) {
        note(mosq_failure(rc));
        return std::nullopt;
    }
    return mid;
}

void cloud_session::disconnect() {
    if (!alive_) return;
    mosquitto_disconnect(mosq_);
    // Let the DISCONNECT reach the socket before the session is destroyed.
    mosquitto_loop(mosq_, 10, 1);
    alive_ = false;
}

void cloud_session::on_connect(mosquitto* /*m*/, void* self, int rc, int /*flags*/,
                               const mosquitto_property* props) {
    auto* s = static_cast<cloud_session*>(self);
    s->connack_ = true;
    std::uint16_t receive_max = 0;
    std::uint32_t max_packet = 0;
    std::uint8_t retain = 1;
    std::uint16_t keepalive = 0;
    if (props != nullptr) {
        mosquitto_property_read_int16(props, MQTT_PROP_RECEIVE_MAXIMUM, &receive_max, false);
        mosquitto_property_read_int32(props, MQTT_PROP_MAXIMUM_PACKET_SIZE, &max_packet, false);
        mosquitto_property_read_byte(props, MQTT_PROP_RETAIN_AVAILABLE, &retain, false);
        mosquitto_property_read_int16(props, MQTT_PROP_SERVER_KEEP_ALIVE, &keepalive, false);
    }
    if (rc != 0) {
        s->failure_ = {net_errc::refused_by_broker,
                       fmt::format("connection refused: {}", mosquitto_reason_string(rc))};
    }
    if (s->events_.connected) {
        s->events_.connected(rc, broker_limits{receive_max, max_packet, retain != 0, keepalive});
    }
}

void cloud_session::on_publish(mosquitto* /*m*/, void* self, int mid, int reason_code,
                               const mosquitto_property* /*props*/) {
    auto* s = static_cast<cloud_session*>(self);
    if (s->events_.acknowledged) s->events_.acknowledged(mid, reason_code);
}

void cloud_session::on_disconnect(mosquitto* /*m*/, void* self, int rc,
                                  const mosquitto_property* /*props*/) {
    auto* s = static_cast<cloud_session*>(self);
    s->alive_ = false;
    if (rc != 0) s->note(mosq_failure(rc));
    if (s->events_.disconnected) s->events_.disconnected(rc);
}

void cloud_session::on_log(mosquitto* /*m*/, void* self, int level, const char* text) {
    auto* s = static_cast<cloud_session*>(self);
    if (level == MOSQ_LOG_ERR && text != nullptr) {
        // libmosquitto logs OpenSSL's words for a failed handshake, read or write.
        const std::string_view t(text);
        s->note({t.find("SSL") != std::string_view::npos ? net_errc::tls_handshake
                                                         : net_errc::connection_lost,
                 std::string(t)});
    }
}

net_error explain_tls_failure(const net_error& failure) {
    const std::string full = failure.text();
    const std::string_view text(full);
    struct hint {
        std::string_view needle;
        std::string_view meaning;
    };
    static constexpr std::array<hint, 10> hints{{
        {"certificate required", "the broker requires a client certificate and none was sent"},
        {"unknown ca", "the broker does not trust our client certificate (signed by another CA)"},
        {"certificate expired", "a certificate has expired"},
        {"bad certificate", "the broker rejected our client certificate"},
        {"certificate unknown", "the broker rejected our client certificate"},
        {"certificate verify failed",
         "the broker's certificate failed verification (unknown CA, expired, or not for this "
         "host)"},
        {"key values mismatch", "the client key does not match the client certificate"},
        {"wrong version number", "the port does not speak TLS"},
        {"decrypt", "the client key cannot be read (wrong passphrase?)"},
        {"protocol version", "no common TLS version (1.2 or newer is required)"},
    }};
    for (const auto& h : hints) {
        if (text.find(h.needle) != std::string_view::npos) {
            return {net_errc::tls_handshake, fmt::format("{} ({})", h.meaning, text)};
        }
    }
    // OpenSSL's words for a peer that closed the TCP connection without a TLS close_notify.
    if (text.find("unexpected eof") != std::string_view::npos) return net_errc::peer_closed;
    return failure;
}

}  // namespace fogbridge
