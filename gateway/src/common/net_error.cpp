#include "common/net_error.hpp"

#include <cerrno>

namespace fogbridge {
namespace {

class category final : public std::error_category {
  public:
    const char* name() const noexcept override { return "fogbridge.net"; }

    std::string message(int value) const override {
        switch (static_cast<net_errc>(value)) {
            case net_errc::name_resolution:
                return "the host name does not resolve";
            case net_errc::connect_refused:
                return "connection refused";
            case net_errc::unreachable:
                return "host unreachable";
            case net_errc::timed_out:
                return "timed out";
            case net_errc::tls_setup:
                return "TLS setup failed";
            case net_errc::tls_handshake:
                return "TLS handshake failed";
            case net_errc::peer_closed:
                return "the broker closed the connection";
            case net_errc::connection_lost:
                return "connection lost";
            case net_errc::no_answer:
                return "no answer from the broker";
            case net_errc::protocol_violation:
                return "protocol error";
            case net_errc::refused_by_broker:
                return "connection refused by the broker";
            case net_errc::subscription_refused:
                return "subscription refused";
            case net_errc::publish_refused:
                return "publish refused";
            case net_errc::credentials_rotated:
                return "certificate rotation";
        }
        return "unknown network error";
    }
};

}  // namespace

const std::error_category& net_category() noexcept {
    static const category instance;
    return instance;
}

std::error_code make_error_code(net_errc e) noexcept {
    return {static_cast<int>(e), net_category()};
}

net_errc net_errc_from_errno(int e) noexcept {
    switch (e) {
        case ECONNREFUSED:
            return net_errc::connect_refused;
        case ETIMEDOUT:
            return net_errc::timed_out;
        case ENETUNREACH:
        case EHOSTUNREACH:
        case ENETDOWN:
        case EHOSTDOWN:
            return net_errc::unreachable;
        default:
            return net_errc::connection_lost;
    }
}

net_error net_error::prefixed(const std::string& prefix) const {
    net_error e = *this;
    e.detail_ = prefix + text();
    return e;
}

}  // namespace fogbridge
