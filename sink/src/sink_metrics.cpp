#include "sink_metrics.hpp"

#include <fmt/format.h>

#include <iterator>

namespace fogbridge::sink {
namespace {

constexpr auto rate_window = std::chrono::seconds(10);

}  // namespace

void sink_metrics::message(const std::string& kind) {
    const std::lock_guard lock(mutex_);
    ++messages_[kind];
}

void sink_metrics::batch(const batch_written& b) {
    const std::lock_guard lock(mutex_);
    ++batches_;
    rows_ += b.rows;
    duplicates_ += b.duplicates;
    lag_ = b.lag_seconds;
    const auto now = clock::now();
    samples_.emplace_back(now, b.rows);
    while (!samples_.empty() && now - samples_.front().first > rate_window) samples_.pop_front();
}

void sink_metrics::rejected(const std::string& reason, std::uint64_t n) {
    const std::lock_guard lock(mutex_);
    rejected_[reason] += n;
}

void sink_metrics::database_error() {
    const std::lock_guard lock(mutex_);
    ++database_errors_;
}

void sink_metrics::state(bool database_up, bool broker_connected, std::size_t pending) {
    const std::lock_guard lock(mutex_);
    database_up_ = database_up;
    broker_connected_ = broker_connected;
    pending_ = pending;
}

double sink_metrics::rate(clock::time_point now) {
    while (!samples_.empty() && now - samples_.front().first > rate_window) samples_.pop_front();
    std::uint64_t rows = 0;
    for (const auto& s : samples_) rows += s.second;
    return static_cast<double>(rows) / std::chrono::duration<double>(rate_window).count();
}

std::string sink_metrics::render(clock::time_point now) {
    const std::lock_guard lock(mutex_);
    std::string out;
    auto put = [&](std::string_view name, std::string_view type, std::string_view help,
                   auto value) {
        fmt::format_to(std::back_inserter(out), "# HELP {0} {1}\n# TYPE {0} {2}\n{0} {3}\n", name,
                       help, type, value);
    };
    put("fogbridge_sink_rows_total", "counter", "Readings inserted.", rows_);
    put("fogbridge_sink_rows_per_second", "gauge", "Readings inserted per second, last 10 s.",
        rate(now));
    put("fogbridge_sink_batches_total", "counter", "Batches committed.", batches_);
    put("fogbridge_sink_duplicates_total", "counter",
        "Readings absorbed because they were already stored (re-sends, replays).", duplicates_);
    put("fogbridge_sink_lag_seconds", "gauge",
        "Seconds from the last committed batch's creation at its gateway to its COMMIT.", lag_);
    put("fogbridge_sink_database_errors_total", "counter",
        "Transactions that failed for the database (not the data); the message was kept.",
        database_errors_);
    put("fogbridge_sink_database_up", "gauge", "1 while connected to PostgreSQL.",
        database_up_ ? 1 : 0);
    put("fogbridge_sink_broker_connected", "gauge", "1 while connected to the broker.",
        broker_connected_ ? 1 : 0);
    put("fogbridge_sink_pending_messages", "gauge",
        "Messages received and not yet committed and acknowledged.", pending_);
    out +=
        "# HELP fogbridge_sink_messages_total Messages received, by kind.\n"
        "# TYPE fogbridge_sink_messages_total counter\n";
    for (const auto& [kind, n] : messages_) {
        fmt::format_to(std::back_inserter(out), "fogbridge_sink_messages_total{{kind=\"{}\"}} {}\n",
                       kind, n);
    }
    out +=
        "# HELP fogbridge_sink_rejected_total Messages, readings, ranges or gap records "
        "refused, by reason.\n# TYPE fogbridge_sink_rejected_total counter\n";
    for (const auto& [reason, n] : rejected_) {
        fmt::format_to(std::back_inserter(out),
                       "fogbridge_sink_rejected_total{{reason=\"{}\"}} {}\n", reason, n);
    }
    return out;
}

}  // namespace fogbridge::sink
