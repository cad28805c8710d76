// The short names health gives error codes ("net.timed_out", "store.full"). Thread-safe.
#include "health/code_name.hpp"

#include <fmt/format.h>

#include <string_view>

#include "common/net_error.hpp"
#include "store/store_error.hpp"

namespace fogbridge {
namespace {

std::string_view net_name(net_errc e) {
    switch (e) {
        case net_errc::name_resolution:
            return "name_resolution";
        case net_errc::connect_refused:
            return "connect_refused";
        case net_errc::unreachable:
            return "unreachable";
        case net_errc::timed_out:
            return "timed_out";
        case net_errc::tls_setup:
            return "tls_setup";
        case net_errc::tls_handshake:
            return "tls_handshake";
        case net_errc::peer_closed:
            return "peer_closed";
        case net_errc::connection_lost:
            return "connection_lost";
        case net_errc::no_answer:
            return "no_answer";
        case net_errc::protocol_violation:
            return "protocol_violation";
        case net_errc::refused_by_broker:
            return "refused_by_broker";
        case net_errc::subscription_refused:
            return "subscription_refused";
        case net_errc::publish_refused:
            return "publish_refused";
        case net_errc::credentials_rotated:
            return "credentials_rotated";
    }
    return {};
}

std::string_view store_name(store_errc e) {
    switch (e) {
        case store_errc::busy:
            return "busy";
        case store_errc::full:
            return "full";
        case store_errc::io:
            return "io";
        case store_errc::corrupt:
            return "corrupt";
        case store_errc::invalid_input:
            return "invalid_input";
        case store_errc::internal:
            return "internal";
    }
    return {};
}

}  // namespace

std::string code_name(const std::error_code& code) {
    if (!code) return {};
    std::string_view name;
    std::string_view prefix;
    if (code.category() == net_category()) {
        prefix = "net";
        name = net_name(static_cast<net_errc>(code.value()));
    } else if (code.category() == store_category()) {
        prefix = "store";
        name = store_name(static_cast<store_errc>(code.value()));
    } else {
        prefix = code.category().name();
    }
    if (name.empty()) return fmt::format("{}.{}", prefix, code.value());
    return fmt::format("{}.{}", prefix, name);
}

}  // namespace fogbridge
