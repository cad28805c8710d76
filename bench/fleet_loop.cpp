// bench-fleet's event loop: connects, publishes, re-sends and reads for every board.
#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <stdexcept>
#include <string>

#include "fleet.hpp"
#include "tool_common.hpp"

namespace fleet_bench {

fleet::fleet(const options& o) : o_(o), boards_(static_cast<std::size_t>(o.boards)), rng_(o.seed) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) throw std::runtime_error("epoll_create1 failed");
    addr_.sin_family = AF_INET;
    addr_.sin_port = htons(static_cast<std::uint16_t>(o.port));
    if (inet_pton(AF_INET, o.host.c_str(), &addr_.sin_addr) != 1) {
        throw std::runtime_error("--host must be an IPv4 address");
    }
    per_msg_ = sensors.size() * static_cast<std::size_t>(o.per_message);
}

fleet::~fleet() {
    for (auto& b : boards_) {
        if (b.fd >= 0) close(b.fd);
    }
    close(ep_);
}

void fleet::run() {
    t0_ = bench::wall_now();
    double next_progress = t0_;
    double drain_until = 0;
    while (true) {
        const double now = bench::wall_now();
        if (drain_until == 0 && finished(now)) drain_until = now + o_.drain_timeout;
        if (drain_until > 0 && (t_.inflight == 0 || now >= drain_until)) break;
        if (drain_until == 0) {
            open_due(now);
            publish_due(now);
        }
        if (now >= next_progress) {
            fmt::print("progress {:.3f} {} {} {}\n", now, t_.connected, t_.sent, t_.acked);
            std::fflush(stdout);
            next_progress = now + o_.progress;
        }
        poll_once(wait_ms(now, drain_until > 0));
    }
    t_end_ = bench::wall_now();
    for (auto& b : boards_) goodbye(b);
}

void fleet::report() const {
    const double span = t_end_ - t0_;
    fmt::print(
        "{{\"boards\":{},\"connected\":{},\"failed\":{},\"readings_per_message\":{},"
        "\"sent\":{},\"acked\":{},\"resent\":{},\"app_acks\":{},\"t_start\":{:.6f},"
        "\"t_all_connected\":{:.6f},\"t_end\":{:.6f},\"rate\":{:.1f},\"cpu_s\":{:.3f}}}\n",
        o_.boards, t_.connected, t_.failed, per_msg_, t_.sent, t_.acked, t_.resent, t_.app_acks,
        t0_, t_connected_, t_end_, span > 0 ? static_cast<double>(t_.acked) / span : 0.0,
        bench::cpu_seconds());
}

bool fleet::finished(double now) const {
    if (bench::stop_requested.load()) return true;
    if (o_.count > 0 && t_.sent >= o_.count) return true;
    return o_.duration > 0 && now >= t0_ + o_.duration;
}

int fleet::wait_ms(double now, bool draining) const {
    double until = now + 0.1;
    if (!draining && !due_.empty()) until = std::min(until, due_.top().first);
    if (!draining && next_open_ < boards_.size()) until = std::min(until, now + 0.002);
    return std::max(0, static_cast<int>(std::ceil((until - now) * 1000)));
}

// Opens connections at --connect-rate, never more than --max-connecting unanswered.
void fleet::open_due(double now) {
    const auto allowed = static_cast<std::size_t>((now - t0_) * o_.connect_rate) + 1;
    while (next_open_ < boards_.size() && next_open_ < allowed &&
           t_.connecting < o_.max_connecting) {
        open(static_cast<int>(next_open_++));
    }
}

void fleet::open(int i) {
    auto& b = boards_[static_cast<std::size_t>(i)];
    b.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (b.fd < 0) return fail(b, "socket");
    const int one = 1;
    setsockopt(b.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const int r = connect(b.fd, reinterpret_cast<const sockaddr*>(&addr_), sizeof addr_);
    if (r < 0 && errno != EINPROGRESS) return fail(b, "connect");
    b.state = link::connecting;
    ++t_.connecting;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.u32 = static_cast<std::uint32_t>(i);
    epoll_ctl(ep_, EPOLL_CTL_ADD, b.fd, &ev);
    b.writing = true;
    mqtt::connect_options c;
    c.client_id = fmt::format("{}-{:05d}", o_.prefix, i + 1);
    c.clean_session = true;
    c.keepalive = static_cast<int>(std::clamp(o_.interval * 3, 60.0, 65535.0));
    mqtt::append_connect(b.out, c);
}

void fleet::fail(board& b, const char* what) {
    if (b.state == link::closed) return;
    if (t_.failed == 0) fmt::print(stderr, "bench-fleet: {} failed: {}\n", what, errno);
    if (b.state == link::connecting || b.state == link::handshake) --t_.connecting;
    if (b.state == link::ready) --t_.connected;
    t_.inflight -= b.inflight;
    b.inflight = 0;
    ++t_.failed;
    if (b.fd >= 0) close(b.fd);
    b.fd = -1;
    b.state = link::closed;
}

// The board's first slot: phases spread evenly over the interval, counted from the start.
// NOLINTNEXTLINE(bugprone-easily-swappable-parameters): a board index and a time
double fleet::first_due(int i, double now) const {
    if (o_.interval <= 0) return now;
    const double phase = o_.interval * i / static_cast<double>(o_.boards);
    double due = t0_ + phase;
    if (due < now) due += std::ceil((now - due) / o_.interval) * o_.interval;
    return due;
}

void fleet::publish_due(double now) {
    while (!due_.empty() && due_.top().first <= now) {
        const auto [when, i] = due_.top();
        due_.pop();
        auto& b = boards_[static_cast<std::size_t>(i)];
        if (b.state != link::ready) continue;
        if (o_.interval > 0) {
            const bool room = b.inflight < o_.window;
            resend_due(b, i, now);
            if (room) publish(b, i);
            due_.emplace(when + o_.interval, i);
        } else {
            while (b.inflight < o_.window && !finished(now)) publish(b, i);
        }
    }
}

void fleet::publish(board& b, int i) {
    payload_.clear();
    payload_.push_back('[');
    const double ts = std::round(bench::wall_now() * 1000.0) / 1000.0;
    for (int k = 0; k < o_.per_message; ++k) {
        for (std::size_t s = 0; s < sensors.size(); ++s) {
            std::uniform_real_distribution<double> step(-steps[s] * o_.step_scale,
                                                        steps[s] * o_.step_scale);
            b.values[s] += step(rng_);
            const double value = std::round(b.values[s] * 100.0) / 100.0;
            const double at = ts - 0.001 * (o_.per_message - 1 - k);
            if (payload_.size() > 1) payload_.push_back(',');
            fmt::format_to(std::back_inserter(payload_),
                           "{{\"sensor\":\"{}\",\"value\":{},\"unit\":\"{}\",\"ts\":{:.3f},"
                           "\"boot\":{},\"seq\":{}}}",
                           sensors[s].first, value, sensors[s].second, at, o_.boot, ++b.seq);
        }
    }
    payload_.push_back(']');
    send(b, i, payload_);
    if (b.kept.size() >= o_.max_kept) b.kept.pop_front();
    b.kept.push_back({b.seq, bench::wall_now(), payload_});
    t_.sent += per_msg_;
    flush(b, i);
}

void fleet::send(board& b, int i, std::string_view payload) {
    const auto topic = fmt::format("devices/{}-{:05d}/readings", o_.prefix, i + 1);
    mqtt::append_publish(b.out, topic, payload,
                         {.qos = fogbridge::qos::at_least_once,
                          .retain = fogbridge::retain::no,
                          .dup = mqtt::dup::no,
                          .id = b.next_id});
    b.next_id = static_cast<std::uint16_t>(b.next_id == 0xFFFF ? 1 : b.next_id + 1);
    ++b.inflight;
    ++t_.inflight;
}

// What waited --resend-after for the gateway's ack goes again, oldest first, at most
// --window messages a slot (a board that re-sent everything at once would storm a broker
// that is already behind).
// NOLINTNEXTLINE(bugprone-easily-swappable-parameters): a board index and a time
void fleet::resend_due(board& b, int i, double now) {
    int budget = o_.window;
    for (auto& m : b.kept) {
        if (budget-- == 0 || m.sent_at > now - o_.resend_after) break;
        send(b, i, m.payload);
        m.sent_at = now;
        t_.resent += per_msg_;
    }
}

// {"boot":B,"seq":S} on devices/<id>/ack: forget what it covers.
void fleet::on_ack(board& b, std::string_view payload) {
    const auto boot = bench::to_uint(bench::json_field(payload, "\"boot\""));
    const auto seq = bench::to_uint(bench::json_field(payload, "\"seq\""));
    if (!boot || !seq || *boot != o_.boot) return;
    ++t_.app_acks;
    while (!b.kept.empty() && b.kept.front().last_seq <= *seq) b.kept.pop_front();
}

void fleet::flush(board& b, int i) {
    while (b.out_at < b.out.size()) {
        const auto w = write(b.fd, b.out.data() + b.out_at, b.out.size() - b.out_at);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (w <= 0) return fail(b, "write");
        b.out_at += static_cast<std::size_t>(w);
    }
    if (b.out_at == b.out.size()) {
        b.out.clear();
        b.out_at = 0;
    }
    const bool want = !b.out.empty();
    if (want != b.writing) {
        epoll_event ev{};
        ev.events = EPOLLIN | (want ? EPOLLOUT : 0U);
        ev.data.u32 = static_cast<std::uint32_t>(i);
        epoll_ctl(ep_, EPOLL_CTL_MOD, b.fd, &ev);
        b.writing = want;
    }
}

void fleet::poll_once(int timeout_ms) {
    std::array<epoll_event, 512> events{};
    const int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), timeout_ms);
    for (int k = 0; k < n; ++k) {
        const auto i = static_cast<int>(events[static_cast<std::size_t>(k)].data.u32);
        const auto what = events[static_cast<std::size_t>(k)].events;
        auto& b = boards_[static_cast<std::size_t>(i)];
        if (b.state == link::closed) continue;
        if (b.state == link::connecting && (what & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0U) {
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(b.fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0) {
                errno = err;
                fail(b, "connect");
                continue;
            }
            b.state = link::handshake;
        }
        if ((what & EPOLLIN) != 0U) read_from(b, i);
        if (b.state != link::closed && (what & EPOLLOUT) != 0U) flush(b, i);
        if (b.state != link::closed && (what & (EPOLLERR | EPOLLHUP)) != 0U) fail(b, "link");
    }
}

void fleet::read_from(board& b, int i) {
    std::array<char, 4096> buf{};
    while (true) {
        const auto r = read(b.fd, buf.data(), buf.size());
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (r <= 0) return fail(b, "read");
        b.in.append(buf.data(), static_cast<std::size_t>(r));
    }
    std::size_t used = 0;
    try {
        while (auto cut = mqtt::cut_packet(std::string_view(b.in).substr(used))) {
            used += cut->second;
            on_packet(b, i, cut->first);
        }
    } catch (const mqtt::protocol_error& e) {
        fmt::print(stderr, "bench-fleet: board {}: {}\n", i + 1, e.what());
        return fail(b, "protocol");
    }
    b.in.erase(0, used);
}

void fleet::on_packet(board& b, int i, const mqtt::packet& p) {
    if (p.type() == mqtt::packet_type::connack) {
        if (mqtt::read_connack(p).code != 0) return fail(b, "connack");
        b.state = link::ready;
        --t_.connecting;
        mqtt::append_subscribe(b.out, b.next_id++,
                               {fmt::format("devices/{}-{:05d}/ack", o_.prefix, i + 1)}, 0);
        flush(b, i);
        if (++t_.connected == o_.boards) t_connected_ = bench::wall_now();
        due_.emplace(first_due(i, bench::wall_now()), i);
    } else if (p.type() == mqtt::packet_type::puback) {
        --b.inflight;
        --t_.inflight;
        t_.acked += per_msg_;
        if (o_.interval <= 0 && b.state == link::ready) due_.emplace(0.0, i);
    } else if (p.type() == mqtt::packet_type::publish) {
        on_ack(b, mqtt::read_publish(p).payload);
    }
}

void fleet::goodbye(board& b) {
    if (b.state != link::ready) return;
    std::string bye;
    mqtt::append_disconnect(bye);
    [[maybe_unused]] const ssize_t sent = write(b.fd, bye.data(), bye.size());  // best effort
}

}  // namespace fleet_bench
