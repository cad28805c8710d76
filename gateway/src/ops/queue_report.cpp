#include "ops/queue_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "store/store.hpp"

namespace fogbridge {
namespace {

std::optional<double> age(const std::optional<double>& t, double now) {
    if (!t) {
        return std::nullopt;
    }
    return std::max(0.0, now - *t);
}

std::string utc(double t) {
    const auto whole = static_cast<std::time_t>(std::floor(t));
    const auto ms = static_cast<int>(std::floor((t - static_cast<double>(whole)) * 1000.0));
    std::tm tm{};
    gmtime_r(&whole, &tm);
    std::array<char, 32> buf{};
    std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%S", &tm);
    return fmt::format("{}.{:03}Z", buf.data(), ms);
}

template <typename T>
std::string or_dash(const std::optional<T>& v) {
    return v ? fmt::format("{}", *v) : std::string("-");
}

std::string age_text(const std::optional<double>& t, double now) {
    const auto a = age(t, now);
    return a ? fmt::format("{:.1f}", *a) : std::string("-");
}

template <typename T>
nlohmann::json or_null(const std::optional<T>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json by_reason(const drop_counts& counts) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto reason : {drop_reason::store_full_bytes, drop_reason::store_full_rows,
                              drop_reason::disk_low, drop_reason::ttl, drop_reason::store_lost}) {
        out[std::string(to_string(reason))] = counts[reason];
    }
    return out;
}

}  // namespace

void write_queue_text(const std::filesystem::path& path, const store_inspection& r, double now,
                      std::ostream& out) {
    out << fmt::format("store    {} (schema {})\n", path.string(), r.schema_version);
    out << fmt::format("queue    {} readings: {} pending ({} bytes), {} in {} leased batches\n",
                       r.held_readings, r.pending_readings, r.pending_bytes, r.leased_readings,
                       r.leased_batches);
    if (r.oldest_enqueued) {
        out << fmt::format("oldest   {} s (enqueued {})\n", age_text(r.oldest_enqueued, now),
                           utc(*r.oldest_enqueued));
    } else {
        out << "oldest   -\n";
    }
    out << fmt::format("gaps     {} records waiting, {} messages unacknowledged\n", r.gap_records,
                       r.leased_gap_messages);
    out << fmt::format("devices  {}\n", r.devices.size());
    if (r.devices.empty()) {
        return;
    }

    std::vector<std::array<std::string, 7>> rows;
    rows.push_back({"device", "boot", "processed", "held", "leased", "seqs", "oldest_s"});
    for (const auto& d : r.devices) {
        for (const auto& b : d.boots) {
            const auto seqs =
                b.first_seq ? fmt::format("{}..{}", *b.first_seq, *b.last_seq) : std::string("-");
            rows.push_back({d.device, fmt::format("{}", b.boot), or_dash(b.processed),
                            fmt::format("{}", b.readings), fmt::format("{}", b.leased_readings),
                            seqs, age_text(b.oldest_enqueued, now)});
        }
    }
    std::array<std::size_t, 7> width{};
    for (const auto& row : rows) {
        for (std::size_t i = 0; i < row.size(); ++i) {
            width[i] = std::max(width[i], row[i].size());
        }
    }
    out << '\n';
    for (const auto& row : rows) {
        std::string line;
        for (std::size_t i = 0; i < row.size(); ++i) {
            line += i + 1 < row.size() ? fmt::format("{:<{}}  ", row[i], width[i]) : row[i];
        }
        out << line << '\n';
    }
}

void write_queue_json(const std::filesystem::path& path, const store_inspection& r, double now,
                      std::ostream& out) {
    using nlohmann::json;
    json devices = json::array();
    for (const auto& d : r.devices) {
        json boots = json::array();
        for (const auto& b : d.boots) {
            boots.push_back({{"boot", b.boot},
                             {"processed", or_null(b.processed)},
                             {"covered", or_null(b.covered)},
                             {"readings", b.readings},
                             {"leased_readings", b.leased_readings},
                             {"first_seq", or_null(b.first_seq)},
                             {"last_seq", or_null(b.last_seq)},
                             {"oldest_age_s", or_null(age(b.oldest_enqueued, now))}});
        }
        devices.push_back({{"device", d.device},
                           {"readings", d.readings},
                           {"leased_readings", d.leased_readings},
                           {"bytes", d.bytes},
                           {"oldest_enqueued", or_null(d.oldest_enqueued)},
                           {"oldest_age_s", or_null(age(d.oldest_enqueued, now))},
                           {"boots", std::move(boots)}});
    }
    const json j = {{"store", path.string()},
                    {"schema_version", r.schema_version},
                    {"ts", now},
                    {"readings", r.held_readings},
                    {"pending_readings", r.pending_readings},
                    {"leased_readings", r.leased_readings},
                    {"bytes", r.held_bytes},
                    {"held_bytes", r.held_bytes},
                    {"pending_bytes", r.pending_bytes},
                    {"leased_batches", r.leased_batches},
                    {"oldest_enqueued", or_null(r.oldest_enqueued)},
                    {"oldest_age_s", or_null(age(r.oldest_enqueued, now))},
                    {"newest_enqueued", or_null(r.newest_enqueued)},
                    {"oldest_batch_age_s", or_null(age(r.oldest_batch_created, now))},
                    {"gap_records", r.gap_records},
                    {"leased_gap_messages", r.leased_gap_messages},
                    {"gap_readings", by_reason(r.gap_readings)},
                    {"drops_total", by_reason(r.drops_total)},
                    {"devices", std::move(devices)}};
    out << j.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
}

int run_queue_report(const std::filesystem::path& db, bool json, const report_streams& to,
                     double now) {
    store_inspection r;
    try {
        r = store::inspect(db);
    } catch (const std::exception& e) {
        to.err << "fogbridge queue: " << db.string() << ": " << e.what() << '\n';
        return 1;
    }
    if (json) {
        write_queue_json(db, r, now, to.out);
    } else {
        write_queue_text(db, r, now, to.out);
    }
    return 0;
}

int run_queue_report(const std::filesystem::path& db, bool json, std::ostream& out) {
    using namespace std::chrono;
    const double now = duration<double>(system_clock::now().time_since_epoch()).count();
    return run_queue_report(db, json, {.out = out, .err = std::cerr}, now);
}

}  // namespace fogbridge
