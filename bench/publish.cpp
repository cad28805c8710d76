// bench-publish: SDK-like device publishers for the benchmark. One MQTT connection (and thread)
// per simulated device; each publishes readings as the device SDK does (QoS 1 messages on
// devices/<id>/readings with boot and seq: one JSON reading, or with --per-message N an array of
// up to N, as the SDK's max_readings_per_message) at a fixed total rate or as fast as a window of
// unacknowledged messages allows. Prints progress lines
// ("progress <wall> <sent> <acked>") and one JSON summary line on stdout.
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cxxopts.hpp>
#include <deque>
#include <iterator>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tool_common.hpp"

namespace {

struct options {
    std::string host = "127.0.0.1";
    int port = 1883;
    bench::tls_files tls;
    int devices = 4;
    std::string device_prefix = "bench";
    int first_device = 1;
    std::uint64_t count = 0;  // in all; 0 = until duration/signal
    double rate = 0;          // readings/s in all; 0 = flat out
    double duration = 0;
    int window = 100;
    int per_message = 1;  // readings in one message at most
    std::uint64_t seed = 1;
    std::uint64_t boot = 1;
    double drain_timeout = 30;
    bool with_device = false;
};

struct totals {
    std::atomic<std::uint64_t> sent{0};
    std::atomic<std::uint64_t> acked{0};
    std::atomic<int> failed{0};
};

constexpr std::array<std::pair<const char*, const char*>, 4> sensors{
    {{"temperature", "C"}, {"humidity", "%"}, {"light", "lx"}, {"co2", "ppm"}}};
constexpr std::array<double, 4> start_values{21.0, 45.0, 300.0, 600.0};
constexpr std::array<double, 4> steps{0.05, 0.2, 4.0, 3.0};

// One device's share of the run.
struct device_plan {
    std::string id;
    std::uint64_t quota = 0;  // readings; 0: until the duration ends
    double rate = 0;          // readings/s; 0: flat out
    std::uint64_t seed = 1;
};

class device final {
  public:
    device(const options& o, totals& t, device_plan plan)
        : o_(o),
          totals_(t),
          id_(std::move(plan.id)),
          quota_(plan.quota),
          rate_(plan.rate),
          rng_(plan.seed) {
        topic_ = "devices/" + id_ + "/readings";
        values_ = start_values;
    }

    void run(double t0) {
        mosquitto* m = mosquitto_new(fmt::format("{}-{}", id_, o_.boot).c_str(), true, this);
        mosquitto_publish_callback_set(m, [](mosquitto*, void* p, int) {
            auto* d = static_cast<device*>(p);
            --d->inflight_;
            d->totals_.acked.fetch_add(d->sizes_.front(), std::memory_order_relaxed);
            d->sizes_.pop_front();
        });
        mosquitto_max_inflight_messages_set(m, static_cast<unsigned>(o_.window));
        mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
        bench::apply_tls(m, o_.tls);
        if (mosquitto_connect(m, o_.host.c_str(), o_.port, 60) != MOSQ_ERR_SUCCESS) {
            fmt::print(stderr, "bench-publish: {} cannot connect to {}:{}\n", id_, o_.host,
                       o_.port);
            totals_.failed.fetch_add(1);
            mosquitto_destroy(m);
            return;
        }
        const double end = o_.duration > 0 ? t0 + o_.duration : 0;
        start_ = bench::wall_now();  // the rate counts from our own connect
        std::string payload;
        while (!bench::stop_requested.load(std::memory_order_relaxed)) {
            const double now = bench::wall_now();
            if ((quota_ > 0 && seq_ >= quota_) || (end > 0 && now >= end)) break;
            std::uint64_t due = quota_ > 0 ? quota_ : UINT64_MAX;
            if (rate_ > 0) {
                due = std::min(due, static_cast<std::uint64_t>((now - start_) * rate_) + 1);
            }
            while (seq_ < due && inflight_ < o_.window &&
                   (due - seq_ >= static_cast<std::uint64_t>(o_.per_message) || lingered(now))) {
                const auto k = std::min<std::uint64_t>(due - seq_, o_.per_message);
                make_payload(payload, k);
                if (mosquitto_publish(m, nullptr, topic_.c_str(), static_cast<int>(payload.size()),
                                      payload.data(), 1, false) != MOSQ_ERR_SUCCESS) {
                    sizes_.pop_back();
                    break;
                }
                ++inflight_;
                totals_.sent.fetch_add(k, std::memory_order_relaxed);
            }
            int timeout_ms = 1;  // also while a partial message waits for its linger
            if (rate_ > 0 && seq_ >= due) {
                const double next = start_ + static_cast<double>(seq_) / rate_;
                timeout_ms = std::clamp(static_cast<int>((next - bench::wall_now()) * 1000), 0, 10);
            }
            if (mosquitto_loop(m, timeout_ms, 1) != MOSQ_ERR_SUCCESS) {
                fmt::print(stderr, "bench-publish: {} lost its connection\n", id_);
                totals_.failed.fetch_add(1);
                break;
            }
        }
        // Wait for the broker to acknowledge what is in flight, so "acked" means "in the broker".
        const double give_up = bench::wall_now() + o_.drain_timeout;
        while (inflight_ > 0 && bench::wall_now() < give_up) {
            if (mosquitto_loop(m, 10, 1) != MOSQ_ERR_SUCCESS) break;
        }
        mosquitto_disconnect(m);
        mosquitto_loop(m, 10, 1);
        mosquitto_destroy(m);
    }

  private:
    // At a fixed rate a message goes when it is full or its oldest reading has waited the
    // linger, as a board that packs readings would; flat out every due reading goes at once.
    [[nodiscard]] bool lingered(double now) const {
        return rate_ <= 0 || now - (start_ + static_cast<double>(seq_) / rate_) >= linger_s;
    }

    // The device SDK's encoding: shortest round-trip numbers, ts rounded to milliseconds (the
    // time the reading was due at a fixed rate, else now), the device named by the topic
    // (--with-device adds it to the payload as well).
    void make_payload(std::string& out, std::uint64_t count) {
        out.clear();
        if (o_.per_message > 1) out.push_back('[');
        for (std::uint64_t i = 0; i < count; ++i) {
            if (i > 0) out.push_back(',');
            const double ts =
                rate_ > 0 ? start_ + static_cast<double>(seq_) / rate_ : bench::wall_now();
            append_reading(out, ts);
        }
        if (o_.per_message > 1) out.push_back(']');
        sizes_.push_back(count);
    }

    void append_reading(std::string& out, double ts) {
        const std::size_t k = seq_ % sensors.size();
        std::uniform_real_distribution<double> step(-steps[k], steps[k]);
        values_[k] += step(rng_);
        ++seq_;
        const double value = std::round(values_[k] * 100.0) / 100.0;
        const double ts_ms = std::round(ts * 1000.0) / 1000.0;
        if (o_.with_device) {
            fmt::format_to(std::back_inserter(out), R"({{"device":"{}",)", id_);
        } else {
            out.push_back('{');
        }
        fmt::format_to(std::back_inserter(out),
                       R"("sensor":"{}","value":{},"unit":"{}","ts":{},"boot":{},"seq":{}}})",
                       sensors[k].first, value, sensors[k].second, ts_ms, o_.boot, seq_);
    }

    static constexpr double linger_s = 0.02;

    const options& o_;
    totals& totals_;
    std::string id_;
    std::string topic_;
    std::uint64_t quota_;
    double rate_;
    double start_ = 0;  // wall time of the connect
    std::mt19937_64 rng_;
    std::array<double, 4> values_{};
    std::uint64_t seq_ = 0;
    int inflight_ = 0;
    std::deque<std::uint64_t> sizes_;  // readings per unacknowledged message, oldest first
};

options parse(int argc, char** argv) {
    cxxopts::Options spec("bench-publish", "SDK-like QoS 1 reading publishers, one per device");
    spec.add_options()("host", "broker host",
                       cxxopts::value<std::string>()->default_value("127.0.0.1"))(
        "port", "broker port", cxxopts::value<int>()->default_value("1883"))(
        "ca", "CA file (turns on TLS)", cxxopts::value<std::string>()->default_value(""))(
        "cert", "client certificate", cxxopts::value<std::string>()->default_value(""))(
        "key", "client key", cxxopts::value<std::string>()->default_value(""))(
        "devices", "devices (connections)", cxxopts::value<int>()->default_value("4"))(
        "device-prefix", "device ids are <prefix>-NN",
        cxxopts::value<std::string>()->default_value("bench"))(
        "first-device", "number of the first device", cxxopts::value<int>()->default_value("1"))(
        "count", "readings in all (0: until --duration or a signal)",
        cxxopts::value<std::uint64_t>()->default_value("0"))(
        "rate", "readings per second in all (0: flat out)",
        cxxopts::value<double>()->default_value("0"))("duration",
                                                      "seconds to publish (0: until --count)",
                                                      cxxopts::value<double>()->default_value("0"))(
        "window", "unacknowledged messages per connection",
        cxxopts::value<int>()->default_value("100"))(
        "per-message", "readings in one message at most (an array when above 1)",
        cxxopts::value<int>()->default_value("1"))(
        "seed", "random seed of the values", cxxopts::value<std::uint64_t>()->default_value("1"))(
        "boot", "boot id in every reading", cxxopts::value<std::uint64_t>()->default_value("1"))(
        "drain-timeout", "seconds to wait for the last acknowledgements",
        cxxopts::value<double>()->default_value("30"))(
        "with-device", "put the device id in the payload too")("h,help", "help");
    const auto r = spec.parse(argc, argv);
    if (r.count("help") != 0U) {
        fmt::print("{}\n", spec.help());
        std::exit(0);
    }
    options o;
    o.host = r["host"].as<std::string>();
    o.port = r["port"].as<int>();
    o.tls = {r["ca"].as<std::string>(), r["cert"].as<std::string>(), r["key"].as<std::string>()};
    o.devices = std::max(1, r["devices"].as<int>());
    o.device_prefix = r["device-prefix"].as<std::string>();
    o.first_device = r["first-device"].as<int>();
    o.count = r["count"].as<std::uint64_t>();
    o.rate = r["rate"].as<double>();
    o.duration = r["duration"].as<double>();
    o.window = std::max(1, r["window"].as<int>());
    o.per_message = std::max(1, r["per-message"].as<int>());
    o.seed = r["seed"].as<std::uint64_t>();
    o.boot = r["boot"].as<std::uint64_t>();
    o.drain_timeout = r["drain-timeout"].as<double>();
    o.with_device = r.count("with-device") != 0U;
    if (o.count == 0 && o.duration <= 0) throw std::invalid_argument("give --count or --duration");
    return o;
}

void print_progress(const totals& t) {
    fmt::print("progress {:.3f} {} {}\n", bench::wall_now(), t.sent.load(), t.acked.load());
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    try {
        o = parse(argc, argv);
    } catch (const std::exception& e) {
        fmt::print(stderr, "bench-publish: {}\n", e.what());
        return 2;
    }
    bench::install_stop_handlers();
    mosquitto_lib_init();
    totals t;
    std::vector<std::unique_ptr<device>> devices;
    const auto n = static_cast<std::uint64_t>(o.devices);
    for (std::uint64_t i = 0; i < n; ++i) {
        const std::uint64_t quota = o.count == 0 ? 0 : o.count / n + (i < o.count % n ? 1 : 0);
        const auto id =
            fmt::format("{}-{:02}", o.device_prefix, o.first_device + static_cast<int>(i));
        devices.push_back(
            std::make_unique<device>(o, t,
                                     device_plan{.id = id,
                                                 .quota = quota,
                                                 .rate = o.rate / static_cast<double>(n),
                                                 .seed = o.seed * 1000003 + i}));
    }
    const double t0 = bench::wall_now();
    std::vector<std::thread> threads;
    threads.reserve(devices.size());
    std::atomic<int> running{static_cast<int>(n)};
    for (auto& d : devices) {
        threads.emplace_back([&d, &running, t0] {
            try {
                d->run(t0);
            } catch (const std::exception& e) {
                fmt::print(stderr, "bench-publish: {}\n", e.what());
            }
            --running;
        });
    }
    while (running.load() > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        print_progress(t);
    }
    for (auto& th : threads) th.join();
    const double t1 = bench::wall_now();
    print_progress(t);
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    const double cpu_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    fmt::print(
        "{{\"sent\":{},\"acked\":{},\"failed\":{},\"t_start\":{:.6f},\"t_end\":{:.6f},"
        "\"rate\":{:.1f},\"cpu_s\":{:.3f}}}\n",
        t.sent.load(), t.acked.load(), t.failed.load(), t0, t1,
        static_cast<double>(t.acked.load()) / std::max(t1 - t0, 1e-9), cpu_s);
    mosquitto_lib_cleanup();
    return t.failed.load() > 0 ? 1 : 0;
}
