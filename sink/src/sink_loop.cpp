#include "sink_loop.hpp"

#include <poll.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <deque>
#include <random>
#include <stdexcept>
#include <thread>

#include "common/log.hpp"
#include "mqtt_consumer.hpp"
#include "sink_store.hpp"

namespace fogbridge::sink {
namespace {

using clock = std::chrono::steady_clock;
constexpr auto poll_interval = std::chrono::milliseconds(200);

// Decorrelated jitter: the next delay is random in [min, 3 x the last], capped.
class backoff final {
  public:
    explicit backoff(const sink_settings& s)
        : min_(s.reconnect_min), max_(s.reconnect_max), last_(s.reconnect_min) {}
    clock::duration next() {
        std::uniform_real_distribution<double> d(min_, std::max(min_, last_ * 3));
        last_ = std::min(max_, d(rng_));
        return std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(last_));
    }
    void reset() { last_ = min_; }

  private:
    double min_;
    double max_;
    double last_;
    std::mt19937 rng_{std::random_device{}()};
};

double wall_now() {
    using namespace std::chrono;
    return duration<double>(system_clock::now().time_since_epoch()).count();
}

bool readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
}

std::string kind_of(const message& m) {
    static constexpr std::array<const char*, std::variant_size_v<message>> names = {
        "batch", "gaps", "alert", "health", "status", "rejected"};
    return names.at(m.index());
}

class loop final {
  public:
    loop(const config& c, sink_metrics& metrics, int stop_fd)
        : c_(c),
          metrics_(metrics),
          stop_fd_(stop_fd),
          store_(c.database, c.sink.device_owner == "first"),
          mqtt_(c.mqtt,
                subscriptions({.prefix = c.mqtt.prefix, .share_group = c.mqtt.share_group})),
          db_backoff_(c.sink),
          mqtt_backoff_(c.sink),
          limits_{c.sink.max_payload_bytes, c.sink.max_readings} {}

    int run() {
        while (!readable(stop_fd_)) {
            ensure_database();
            ensure_broker();
            write_pending();
            receive();
            metrics_.state(store_.connected(), mqtt_.connected(), pending_.size());
        }
        log::info("stopping: writing the {} message(s) received", pending_.size());
        const auto deadline =
            clock::now() + std::chrono::duration_cast<clock::duration>(
                               std::chrono::duration<double>(c_.sink.drain_timeout));
        while (!pending_.empty() && clock::now() < deadline && store_.connected() &&
               mqtt_.connected()) {
            write_pending();
            if (!pending_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        if (!pending_.empty()) {
            log::warn("stopping with {} message(s) unacknowledged: the broker keeps them",
                      pending_.size());
        }
        mqtt_.disconnect();
        store_.disconnect();
        log::info("stopped");
        return 0;
    }

  private:
    void ensure_database() {
        if (store_.connected() || clock::now() < db_retry_) return;
        try {
            store_.connect();
            db_backoff_.reset();
            log::info("database connected; schema {} ready", c_.database.schema);
        } catch (const pg_error& e) {
            // The server answered and refused (permissions, a broken schema): retrying won't help.
            if (!e.transient()) throw std::runtime_error(e.what());
            metrics_.database_error();
            db_retry_ = clock::now() + db_backoff_.next();
            log::write_limited(log::level::warn, "db-connect", std::chrono::seconds(10), e.what());
        }
    }

    void ensure_broker() {
        if (mqtt_.connected() || clock::now() < mqtt_retry_) return;
        // What came on the old connection and was not acknowledged, the broker sends again.
        pending_.clear();
        if (const net_error why = mqtt_.connect(stop_fd_)) {
            mqtt_retry_ = clock::now() + mqtt_backoff_.next();
            log::write_limited(
                log::level::warn, "mqtt-connect", std::chrono::seconds(10),
                "broker " + c_.mqtt.host + ":" + std::to_string(c_.mqtt.port) + ": " + why.text());
            return;
        }
        mqtt_backoff_.reset();
        log::info("broker {}:{} connected (session {}), subscribed as {}", c_.mqtt.host,
                  c_.mqtt.port, mqtt_.session_present() ? "resumed" : "new", c_.mqtt.client_id);
    }

    void write_pending() {
        if (pause_writes_ && clock::now() < db_retry_) return;
        pause_writes_ = false;
        while (!pending_.empty() && store_.connected()) {
            const inbound& in = pending_.front();
            if (in.connection != mqtt_.connection() || !mqtt_.connected()) {
                pending_.pop_front();  // the broker sends it again on the next connection
                continue;
            }
            const message m =
                parse_message(c_.mqtt.prefix, {.topic = in.topic, .payload = in.payload}, limits_);
            const write_result r = store_.write(m, in.topic);
            if (r.result == outcome::retry) {
                metrics_.database_error();
                db_retry_ = clock::now() + db_backoff_.next();
                log::write_limited(log::level::warn, "db-write", std::chrono::seconds(10),
                                   "not acknowledging, will retry: " + r.error);
                pause_writes_ = true;  // a deadlock or timeout: same connection, after a delay
                return;
            }
            account(m, r, in.topic);
            mqtt_.acknowledge(in);
            pending_.pop_front();
        }
    }

    void account(const message& m, const write_result& r, const std::string& topic) {
        metrics_.message(kind_of(m));
        if (const auto* b = std::get_if<batch_message>(&m)) {
            metrics_.batch({.rows = r.rows,
                            .duplicates = r.duplicates,
                            .lag_seconds = b->created ? wall_now() - *b->created : 0});
        }
        for (const auto& [reason, n] : r.rejected) {
            metrics_.rejected(reason, n);
            log::write_limited(log::level::warn, "reject-" + reason, std::chrono::seconds(5),
                               fmt::format("rejected {} x {} on {}", n, reason, topic));
        }
        if (const auto* x = std::get_if<rejected_message>(&m)) {
            log::write_limited(log::level::warn, "rejected-detail", std::chrono::seconds(5),
                               fmt::format("{} on {}: {}", x->reason, topic, x->detail));
        }
    }

    void receive() {
        if (!mqtt_.connected()) {
            const auto wait = std::min<clock::duration>(
                poll_interval, std::max<clock::duration>(mqtt_retry_ - clock::now(), {}));
            pollfd p{stop_fd_, POLLIN, 0};
            ::poll(&p, 1,
                   static_cast<int>(
                       std::chrono::duration_cast<std::chrono::milliseconds>(wait).count()));
            return;
        }
        // While the database is down, messages the broker has in flight to us wait here; the
        // broker's in-flight limit bounds them, and it keeps the rest.
        const bool writable = !pending_.empty() && store_.connected() && !pause_writes_;
        const auto wait = writable ? std::chrono::milliseconds(0) : poll_interval;
        std::vector<inbound> got;
        if (const net_error gone = mqtt_.poll(wait, got, stop_fd_)) {
            log::warn("{}", gone.text());
            mqtt_retry_ = clock::now() + mqtt_backoff_.next();
        }
        for (auto& g : got) pending_.push_back(std::move(g));
    }

    const config& c_;
    sink_metrics& metrics_;
    int stop_fd_;
    sink_store store_;
    mqtt_consumer mqtt_;
    backoff db_backoff_;
    backoff mqtt_backoff_;
    parse_limits limits_;
    std::deque<inbound> pending_;
    clock::time_point db_retry_{};
    bool pause_writes_ = false;
    clock::time_point mqtt_retry_{};
};

}  // namespace

int run_sink(const config& c, sink_metrics& metrics, int stop_fd) {
    loop l(c, metrics, stop_fd);
    return l.run();
}

}  // namespace fogbridge::sink
