// bench-fleet's boards and their one-thread epoll loop (see fleet.cpp for what the tool does);
// a fleet is used by one thread only.
#pragma once

#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <queue>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ingest/mqtt_wire.hpp"

namespace fleet_bench {

namespace mqtt = fogbridge::mqtt;

struct options {
    std::string host = "127.0.0.1";
    int port = 1883;
    int boards = 1000;
    std::string prefix = "board";
    double interval = 10;
    int per_message = 1;
    std::uint64_t count = 0;  // readings in all; 0 = until --duration or a signal
    double duration = 0;
    double connect_rate = 2000;
    int max_connecting = 128;
    int window = 1;
    std::uint64_t boot = 1;
    std::uint64_t seed = 1;
    double step_scale = 1;
    double drain_timeout = 30;
    double progress = 1;
    double resend_after = 10;   // the device SDK's resend_timeout
    std::size_t max_kept = 64;  // messages a board keeps for re-sending; the oldest go first
};

inline constexpr std::array<std::pair<const char*, const char*>, 4> sensors{
    {{"temperature", "C"}, {"humidity", "%"}, {"light", "lx"}, {"co2", "ppm"}}};
inline constexpr std::array<double, 4> start_values{21.0, 45.0, 300.0, 600.0};
inline constexpr std::array<double, 4> steps{0.05, 0.2, 4.0, 3.0};

enum class link : std::uint8_t { idle, connecting, handshake, ready, closed };

struct kept_message {
    std::uint64_t last_seq = 0;
    double sent_at = 0;
    std::string payload;
};

struct board {
    int fd = -1;
    link state = link::idle;
    bool writing = false;  // EPOLLOUT armed
    std::uint16_t next_id = 1;
    int inflight = 0;
    std::uint64_t seq = 0;
    std::size_t out_at = 0;
    std::string out;
    std::string in;
    std::array<double, 4> values = start_values;
    std::deque<kept_message> kept;  // sent, not yet covered by the gateway's ack
};

struct totals {
    int connected = 0;
    int connecting = 0;
    int failed = 0;
    std::uint64_t sent = 0;    // readings
    std::uint64_t acked = 0;   // readings
    std::uint64_t resent = 0;  // readings
    std::uint64_t app_acks = 0;
    int inflight = 0;  // messages
};

using due_entry = std::pair<double, int>;  // (when, board)

class fleet final {
  public:
    explicit fleet(const options& o);
    ~fleet();
    fleet(const fleet&) = delete;
    fleet& operator=(const fleet&) = delete;

    void run();

    void report() const;

    bool ok() const { return t_.failed == 0; }

  private:
    bool finished(double now) const;

    int wait_ms(double now, bool draining) const;

    // Opens connections at --connect-rate, never more than --max-connecting unanswered.
    void open_due(double now);

    void open(int i);

    void fail(board& b, const char* what);

    // The board's first slot: phases spread evenly over the interval, counted from the start.
    double first_due(int i, double now) const;

    void publish_due(double now);

    void publish(board& b, int i);

    void send(board& b, int i, std::string_view payload);

    // What waited --resend-after for the gateway's ack goes again, oldest first, at most
    // --window messages a slot (a board that re-sent everything at once would storm a broker
    // that is already behind).
    void resend_due(board& b, int i, double now);

    // {"boot":B,"seq":S} on devices/<id>/ack: forget what it covers.
    void on_ack(board& b, std::string_view payload);

    void flush(board& b, int i);

    void poll_once(int timeout_ms);

    void read_from(board& b, int i);

    void on_packet(board& b, int i, const mqtt::packet& p);

    static void goodbye(board& b);

    const options& o_;
    std::vector<board> boards_;
    std::priority_queue<due_entry, std::vector<due_entry>, std::greater<>> due_;
    std::mt19937_64 rng_;
    sockaddr_in addr_{};
    int ep_ = -1;
    std::size_t next_open_ = 0;
    std::size_t per_msg_ = 4;
    std::string payload_;
    totals t_;
    double t0_ = 0;
    double t_connected_ = 0;
    double t_end_ = 0;
};

}  // namespace fleet_bench
