#include "common/net_error.hpp"

#include <doctest/doctest.h>

#include <cerrno>

using fogbridge::net_errc;
using fogbridge::net_error;

TEST_CASE("net_error: a code of the network category, with the log's words") {
    const std::error_code ec = net_errc::peer_closed;
    CHECK(ec.category().name() == std::string("fogbridge.net"));
    CHECK(ec.message() == "the broker closed the connection");

    const net_error none;
    CHECK_FALSE(none);

    const net_error closed = net_errc::peer_closed;
    CHECK(closed);
    CHECK(closed.is(net_errc::peer_closed));
    CHECK_FALSE(closed.is(net_errc::connection_lost));
    CHECK(closed.text() == "the broker closed the connection");

    const net_error refused{net_errc::connect_refused, "Connection refused"};
    CHECK(refused.text() == "Connection refused");
    const auto said = refused.prefixed("cannot connect: ");
    CHECK(said.text() == "cannot connect: Connection refused");
    CHECK(said.is(net_errc::connect_refused));
}

TEST_CASE("net_error: socket errnos map to their kind") {
    CHECK(fogbridge::net_errc_from_errno(ECONNREFUSED) == net_errc::connect_refused);
    CHECK(fogbridge::net_errc_from_errno(ETIMEDOUT) == net_errc::timed_out);
    CHECK(fogbridge::net_errc_from_errno(EHOSTUNREACH) == net_errc::unreachable);
    CHECK(fogbridge::net_errc_from_errno(ECONNRESET) == net_errc::connection_lost);
    CHECK(fogbridge::net_errc_from_errno(EPIPE) == net_errc::connection_lost);
}

TEST_CASE("net_error: every code has its own message") {
    for (int c = static_cast<int>(net_errc::name_resolution);
         c <= static_cast<int>(net_errc::credentials_rotated); ++c) {
        CHECK(make_error_code(static_cast<net_errc>(c)).message() != "unknown network error");
    }
}
