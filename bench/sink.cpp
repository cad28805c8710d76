// bench-sink: the cloud-side subscriber of the benchmark. Receives gateway batches (JSON or
// zstd) and bridged single readings, counts readings (and distinct (device, boot, seq)), and
// records for each reading its ts and the arrival time, so the driver can compute end-to-end
// latency and throughput over any window. Prints "progress <wall> <readings> <unique>
// <messages> <bytes>" every 100 ms, a JSON summary at exit (t_last_new: when the last distinct
// reading arrived), and the (ts, arrival) pairs as little-endian doubles to --dump.
#include <fmt/format.h>
#include <zstd.h>

#include <cstdint>
#include <cxxopts.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "tool_common.hpp"

namespace {

struct options {
    std::string host = "127.0.0.1";
    int port = 8883;
    bench::tls_files tls;
    std::string client_id = "bench-sink";
    std::vector<std::string> topics;
    std::uint64_t count = 0;
    double idle = 0;
    std::string dump;
};

struct state {
    options o;
    std::uint64_t readings = 0;
    std::uint64_t messages = 0;
    std::uint64_t bytes = 0;
    std::uint64_t bad = 0;
    std::unordered_set<std::uint64_t> seen;
    std::vector<double> pairs;  // ts, arrival, ts, arrival ...
    double t_first = 0;
    double t_last = 0;
    double t_new = 0;  // arrival of the latest reading not seen before: the Nth distinct one
    bool subscribed = false;
    ZSTD_DCtx* dctx = ZSTD_createDCtx();
    std::string scratch;
};

std::uint64_t fnv1a(std::string_view a, std::string_view b, std::string_view c) {
    std::uint64_t h = 1469598103934665603ULL;
    for (auto part : {a, b, c}) {
        for (const char ch : part) {
            h ^= static_cast<unsigned char>(ch);
            h *= 1099511628211ULL;
        }
        h ^= 0xff;
        h *= 1099511628211ULL;
    }
    return h;
}

bool is_zstd(std::string_view p) {
    return p.size() >= 4 && static_cast<unsigned char>(p[0]) == 0x28 &&
           static_cast<unsigned char>(p[1]) == 0xB5 && static_cast<unsigned char>(p[2]) == 0x2F &&
           static_cast<unsigned char>(p[3]) == 0xFD;
}

// Decompresses a zstd frame into s.scratch; false on a damaged frame.
bool inflate(state& s, std::string_view in) {
    s.scratch.clear();
    ZSTD_DCtx_reset(s.dctx, ZSTD_reset_session_only);
    ZSTD_inBuffer src{in.data(), in.size(), 0};
    std::vector<char> buf(ZSTD_DStreamOutSize());
    for (;;) {
        ZSTD_outBuffer dst{buf.data(), buf.size(), 0};
        const std::size_t rc = ZSTD_decompressStream(s.dctx, &dst, &src);
        if (ZSTD_isError(rc) != 0U) return false;
        s.scratch.append(buf.data(), dst.pos);
        if (rc == 0) return true;
        if (src.pos == src.size && dst.pos < dst.size) return false;  // truncated
    }
}

void count_reading(state& s, double now, std::string_view device, std::string_view boot,
                   std::string_view seq, double ts) {
    if (s.readings == 0) s.t_first = now;
    ++s.readings;
    s.t_last = now;
    if (s.seen.insert(fnv1a(device, boot, seq)).second) s.t_new = now;
    s.pairs.push_back(ts);
    s.pairs.push_back(now);
}

// A columnar gateway batch (docs/batch-format.md): seq and ts (ms) are running sums of deltas.
// boot and seq go through the same text as in rows, so both layouts count the same keys.
bool count_columnar(state& s, double now, std::string_view payload) {
    const auto body = nlohmann::json::parse(payload, nullptr, false);
    if (body.is_discarded() || !body.contains("series")) return false;
    for (const auto& series : body["series"]) {
        const auto device = series.value("device", std::string());
        const auto boot = std::to_string(series.value("boot", std::uint64_t{0}));
        const auto& seqs = series["seq"];
        const bool in_ms = series.contains("ts");
        const auto& ts = in_ms ? series["ts"] : series["ts_s"];
        std::int64_t seq = 0;
        std::int64_t ms = 0;
        for (std::size_t i = 0; i < seqs.size() && i < ts.size(); ++i) {
            seq += seqs[i].get<std::int64_t>();
            if (in_ms) ms += ts[i].get<std::int64_t>();
            const double t = in_ms ? static_cast<double>(ms) / 1000.0 : ts[i].get<double>();
            count_reading(s, now, device, boot, std::to_string(seq), t);
        }
    }
    return true;
}

void on_connect(mosquitto* m, void* p, int rc) {
    auto* s = static_cast<state*>(p);
    if (rc != 0) {
        fmt::print(stderr, "bench-sink: refused ({})\n", mosquitto_connack_string(rc));
        bench::stop_requested = true;
        return;
    }
    for (const auto& t : s->o.topics) mosquitto_subscribe(m, nullptr, t.c_str(), 1);
}

void on_subscribe(mosquitto* /*m*/, void* p, int /*mid*/, int /*n*/, const int* /*granted*/) {
    auto* s = static_cast<state*>(p);
    if (!s->subscribed) {
        s->subscribed = true;
        fmt::print("subscribed {:.6f}\n", bench::wall_now());
        std::fflush(stdout);
    }
}

void on_message(mosquitto* /*m*/, void* p, const mosquitto_message* msg) {
    auto* s = static_cast<state*>(p);
    const double now = bench::wall_now();
    std::string_view payload(static_cast<const char*>(msg->payload),
                             static_cast<std::size_t>(msg->payloadlen));
    ++s->messages;
    s->bytes += payload.size();
    if (is_zstd(payload)) {
        if (!inflate(*s, payload)) {
            ++s->bad;
            return;
        }
        payload = s->scratch;
    }
    std::string_view topic_device;
    const std::string_view topic(msg->topic);
    if (topic.starts_with("devices/")) {
        const auto e = topic.find('/', 8);
        topic_device = topic.substr(8, e == std::string_view::npos ? e : e - 8);
    }
    if (payload.find(R"("layout":"columnar")") != std::string_view::npos) {
        if (!count_columnar(*s, now, payload)) ++s->bad;
        return;
    }
    bench::for_each_reading(payload, [&](std::string_view obj) {
        auto device = bench::json_field(obj, "\"device\"");
        if (device.empty()) device = topic_device;
        count_reading(*s, now, device, bench::json_field(obj, "\"boot\""),
                      bench::json_field(obj, "\"seq\""),
                      bench::to_double(bench::json_field(obj, "\"ts\"")).value_or(0));
    });
}

void print_progress(const state& s) {
    fmt::print("progress {:.3f} {} {} {} {}\n", bench::wall_now(), s.readings, s.seen.size(),
               s.messages, s.bytes);
    std::fflush(stdout);
}

options parse(int argc, char** argv) {
    cxxopts::Options spec("bench-sink", "cloud-side subscriber: counts readings, records latency");
    spec.add_options()("host", "broker host",
                       cxxopts::value<std::string>()->default_value("127.0.0.1"))(
        "port", "broker port", cxxopts::value<int>()->default_value("8883"))(
        "ca", "CA file (turns on TLS)", cxxopts::value<std::string>()->default_value(""))(
        "cert", "client certificate", cxxopts::value<std::string>()->default_value(""))(
        "key", "client key", cxxopts::value<std::string>()->default_value(""))(
        "client-id", "MQTT client id", cxxopts::value<std::string>()->default_value("bench-sink"))(
        "topic", "topic filter (repeatable)", cxxopts::value<std::vector<std::string>>())(
        "count", "exit once N distinct readings arrived (0: on signal)",
        cxxopts::value<std::uint64_t>()->default_value("0"))(
        "idle", "exit after S seconds without a message, once one came (0: never)",
        cxxopts::value<double>()->default_value("0"))(
        "dump", "write (ts, arrival) pairs as doubles here",
        cxxopts::value<std::string>()->default_value(""))("h,help", "help");
    const auto r = spec.parse(argc, argv);
    if (r.count("help") != 0U) {
        fmt::print("{}\n", spec.help());
        std::exit(0);
    }
    options o;
    o.host = r["host"].as<std::string>();
    o.port = r["port"].as<int>();
    o.tls = {r["ca"].as<std::string>(), r["cert"].as<std::string>(), r["key"].as<std::string>()};
    o.client_id = r["client-id"].as<std::string>();
    if (r.count("topic") != 0U) o.topics = r["topic"].as<std::vector<std::string>>();
    if (o.topics.empty()) o.topics = {"fogbridge/+/batch", "devices/+/readings"};
    o.count = r["count"].as<std::uint64_t>();
    o.idle = r["idle"].as<double>();
    o.dump = r["dump"].as<std::string>();
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    state s;
    try {
        s.o = parse(argc, argv);
    } catch (const std::exception& e) {
        fmt::print(stderr, "bench-sink: {}\n", e.what());
        return 2;
    }
    s.pairs.reserve(1 << 20);
    bench::install_stop_handlers();
    mosquitto_lib_init();
    mosquitto* m = mosquitto_new(s.o.client_id.c_str(), true, &s);
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_subscribe_callback_set(m, on_subscribe);
    mosquitto_message_callback_set(m, on_message);
    try {
        bench::apply_tls(m, s.o.tls);
    } catch (const std::exception& e) {
        fmt::print(stderr, "bench-sink: {}\n", e.what());
        return 2;
    }
    if (mosquitto_connect(m, s.o.host.c_str(), s.o.port, 60) != MOSQ_ERR_SUCCESS) {
        fmt::print(stderr, "bench-sink: cannot connect to {}:{}\n", s.o.host, s.o.port);
        return 1;
    }
    double last_progress = 0;
    while (!bench::stop_requested.load()) {
        const int rc = mosquitto_loop(m, 20, 1);
        if (rc != MOSQ_ERR_SUCCESS) {
            // The cloud broker may be restarted by the benchmark: reconnect and carry on.
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            mosquitto_reconnect(m);
        }
        const double now = bench::wall_now();
        if (now - last_progress >= 0.1) {
            print_progress(s);
            last_progress = now;
        }
        if (s.o.count > 0 && s.seen.size() >= s.o.count) break;
        if (s.o.idle > 0 && s.readings > 0 && now - s.t_last > s.o.idle) break;
    }
    mosquitto_disconnect(m);
    mosquitto_loop(m, 20, 1);
    print_progress(s);
    if (!s.o.dump.empty()) {
        std::ofstream f(s.o.dump, std::ios::binary);
        f.write(reinterpret_cast<const char*>(s.pairs.data()),  // NOLINT: raw doubles
                static_cast<std::streamsize>(s.pairs.size() * sizeof(double)));
    }
    fmt::print(
        "{{\"readings\":{},\"unique\":{},\"messages\":{},\"bytes\":{},\"bad\":{},"
        "\"t_first\":{:.6f},\"t_last\":{:.6f},\"t_last_new\":{:.6f}}}\n",
        s.readings, s.seen.size(), s.messages, s.bytes, s.bad, s.t_first, s.t_last, s.t_new);
    std::fflush(stdout);
    ZSTD_freeDCtx(s.dctx);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    return 0;
}
