#include "ops/queue_report.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cmath>
#include <ctime>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string_view>
#include <utility>

namespace fogbridge {
namespace {

// A read failure inside read_queue_report; turned into the result's error line.
struct read_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct db_close {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using db_ptr = std::unique_ptr<sqlite3, db_close>;

class query final {
  public:
    query(sqlite3* db, const char* sql) : db_(db) {
        if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
            throw read_error(sqlite3_errmsg(db));
        }
    }
    ~query() { sqlite3_finalize(stmt_); }
    query(const query&) = delete;
    query& operator=(const query&) = delete;

    void bind(int index, std::int64_t v) { sqlite3_bind_int64(stmt_, index, v); }
    void bind(int index, const char* v) { sqlite3_bind_text(stmt_, index, v, -1, SQLITE_STATIC); }
    bool step() {
        const int rc = sqlite3_step(stmt_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        throw read_error(sqlite3_errmsg(db_));
    }
    bool is_null(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }
    std::int64_t i64(int i) const { return sqlite3_column_int64(stmt_, i); }
    std::uint64_t u64(int i) const {
        return static_cast<std::uint64_t>(std::max<std::int64_t>(0, i64(i)));
    }
    double real(int i) const { return sqlite3_column_double(stmt_, i); }
    std::string text(int i) const {
        const auto* p = sqlite3_column_text(stmt_, i);
        if (p == nullptr) return {};
        return {reinterpret_cast<const char*>(p),  // NOLINT: SQLite hands out unsigned char
                static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i))};
    }
    std::optional<double> opt_real(int i) const {
        if (is_null(i)) return std::nullopt;
        return real(i);
    }
    std::optional<std::uint64_t> opt_u64(int i) const {
        if (is_null(i)) return std::nullopt;
        return u64(i);
    }

  private:
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
};

void exec(sqlite3* db, const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
        std::string text = message != nullptr ? message : sqlite3_errmsg(db);
        sqlite3_free(message);
        throw read_error(text);
    }
}

std::int64_t meta_int(sqlite3* db, const char* key) {
    query q(db, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?1");
    q.bind(1, key);
    if (!q.step()) throw read_error(fmt::format("not a fogbridge store (meta.{} missing)", key));
    return q.i64(0);
}

void check_store(sqlite3* db) {
    query q(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'meta'");
    if (!q.step() || q.i64(0) == 0) throw read_error("not a fogbridge store (no meta table)");
}

// Pending: above the lease watermark and in no batch. While a backlog drains, live batches are
// leased beyond the watermark (see store/README.md, lanes).
constexpr std::string_view pending_sql =
    "(id > ?1 AND NOT EXISTS (SELECT 1 FROM batches b WHERE id BETWEEN b.first_id AND b.last_id))";

void read_totals(sqlite3* db, std::int64_t leased_upto, queue_report& r) {
    const std::string sql = fmt::format(
        "SELECT count(*), total(bytes), total({0}), total(CASE WHEN {0} THEN bytes END) "
        "FROM readings",
        pending_sql);
    query totals(db, sql.c_str());
    totals.bind(1, leased_upto);
    totals.step();
    r.readings = totals.u64(0);
    r.bytes = static_cast<std::uint64_t>(totals.real(1));
    r.pending_readings = static_cast<std::uint64_t>(totals.real(2));
    r.leased_readings = r.readings - r.pending_readings;
    r.pending_bytes = static_cast<std::uint64_t>(totals.real(3));

    query oldest(db, "SELECT enqueued FROM readings ORDER BY id LIMIT 1");
    if (oldest.step()) r.oldest_enqueued = oldest.real(0);

    query batches(db, "SELECT count(*), min(created) FROM batches");
    batches.step();
    r.leased_batches = batches.u64(0);
    r.oldest_batch_created = batches.opt_real(1);
}

// From schema version 3 on, readings.device is a devices.id (store/README.md).
bool has_devices_table(sqlite3* db) {
    query q(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'devices'");
    return q.step() && q.i64(0) > 0;
}

void read_devices(sqlite3* db, std::int64_t leased_upto, queue_report& r) {
    std::map<std::pair<std::string, std::int64_t>, boot_report> boots;
    const std::string sql = fmt::format(
        "SELECT {}, boot, count(*), total(NOT {}), min(seq), max(seq), min(enqueued), "
        "total(bytes) FROM readings GROUP BY device, boot",
        has_devices_table(db) ? "(SELECT name FROM devices WHERE id = readings.device)" : "device",
        pending_sql);
    query held(db, sql.c_str());
    held.bind(1, leased_upto);
    std::map<std::string, std::uint64_t> bytes;
    while (held.step()) {
        auto& b = boots[{held.text(0), held.i64(1)}];
        b.boot = held.u64(1);
        b.readings = held.u64(2);
        b.leased_readings = static_cast<std::uint64_t>(held.real(3));
        b.first_seq = held.opt_u64(4);
        b.last_seq = held.opt_u64(5);
        b.oldest_enqueued = held.opt_real(6);
        bytes[held.text(0)] += static_cast<std::uint64_t>(held.real(7));
    }
    query progress(db, "SELECT device, boot, processed, covered FROM progress");
    while (progress.step()) {
        auto& b = boots[{progress.text(0), progress.i64(1)}];
        b.boot = progress.u64(1);
        b.processed = progress.opt_u64(2);
        b.covered = progress.opt_u64(3);
    }
    for (auto& [key, b] : boots) {
        if (r.devices.empty() || r.devices.back().device != key.first) {
            r.devices.push_back({key.first, 0, 0, bytes[key.first], std::nullopt, {}});
        }
        auto& d = r.devices.back();
        d.readings += b.readings;
        d.leased_readings += b.leased_readings;
        if (b.oldest_enqueued && (!d.oldest_enqueued || *b.oldest_enqueued < *d.oldest_enqueued)) {
            d.oldest_enqueued = b.oldest_enqueued;
        }
        d.boots.push_back(std::move(b));
    }
}

std::string immutable_uri(const std::filesystem::path& path) {
    std::string uri = "file:";
    for (const char c : path.string()) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) != 0 || c == '/' || c == '.' || c == '_' || c == '-' || c == '~') {
            uri += c;
        } else {
            uri += fmt::format("%{:02X}", static_cast<unsigned>(u));
        }
    }
    return uri + "?immutable=1";
}

std::optional<double> age(const std::optional<double>& t, double now) {
    if (!t) return std::nullopt;
    return std::max(0.0, now - *t);
}

std::string utc(double t) {
    const auto whole = static_cast<std::time_t>(std::floor(t));
    const auto ms = static_cast<int>(std::floor((t - static_cast<double>(whole)) * 1000.0));
    std::tm tm{};
    gmtime_r(&whole, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    return fmt::format("{}.{:03}Z", buf, ms);
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

}  // namespace

queue_report_result read_queue_report(const std::filesystem::path& db) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(db, ec)) {
        return {std::nullopt, fmt::format("{}: no such store file", db.string())};
    }
    // Without a -wal file the store is closed and fully checkpointed: open it immutable, so
    // that SQLite creates no -wal or -shm file (one left behind by another user, root say,
    // could stop the gateway from opening its store). With one, the gateway may be running:
    // a plain read-only connection shares its WAL index.
    const bool wal_present = std::filesystem::exists(db.string() + "-wal", ec);
    const std::string name = wal_present ? db.string() : immutable_uri(db);
    const int flags = SQLITE_OPEN_READONLY | (wal_present ? 0 : SQLITE_OPEN_URI);
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(name.c_str(), &raw, flags, nullptr);
    const db_ptr handle(raw);
    if (rc != SQLITE_OK) {
        return {std::nullopt, fmt::format("{}: {}", db.string(),
                                          raw != nullptr ? sqlite3_errmsg(raw) : "cannot open")};
    }
    try {
        sqlite3_busy_timeout(raw, 2000);
        // One read transaction: every figure comes from the same snapshot of the file.
        exec(raw, "BEGIN");
        queue_report r;
        r.path = db.string();
        check_store(raw);
        r.schema_version = meta_int(raw, "schema_version");
        const auto leased_upto = meta_int(raw, "leased_upto");
        read_totals(raw, leased_upto, r);
        read_devices(raw, leased_upto, r);
        exec(raw, "COMMIT");
        return {std::move(r), {}};
    } catch (const read_error& e) {
        return {std::nullopt, fmt::format("{}: {}", db.string(), e.what())};
    }
}

void write_queue_text(const queue_report& r, double now, std::ostream& out) {
    out << fmt::format("store    {} (schema {})\n", r.path, r.schema_version);
    out << fmt::format("queue    {} readings: {} pending ({} bytes), {} in {} leased batches\n",
                       r.readings, r.pending_readings, r.pending_bytes, r.leased_readings,
                       r.leased_batches);
    if (r.oldest_enqueued) {
        out << fmt::format("oldest   {} s (enqueued {})\n", age_text(r.oldest_enqueued, now),
                           utc(*r.oldest_enqueued));
    } else {
        out << "oldest   -\n";
    }
    out << fmt::format("devices  {}\n", r.devices.size());
    if (r.devices.empty()) return;

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
        for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
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

void write_queue_json(const queue_report& r, double now, std::ostream& out) {
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
    const json j = {{"store", r.path},
                    {"schema_version", r.schema_version},
                    {"ts", now},
                    {"readings", r.readings},
                    {"pending_readings", r.pending_readings},
                    {"leased_readings", r.leased_readings},
                    {"bytes", r.bytes},
                    {"pending_bytes", r.pending_bytes},
                    {"leased_batches", r.leased_batches},
                    {"oldest_enqueued", or_null(r.oldest_enqueued)},
                    {"oldest_age_s", or_null(age(r.oldest_enqueued, now))},
                    {"oldest_batch_age_s", or_null(age(r.oldest_batch_created, now))},
                    {"devices", std::move(devices)}};
    out << j.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
}

int run_queue_report(const std::filesystem::path& db, bool json, std::ostream& out,
                     std::ostream& err, double now) {
    const auto result = read_queue_report(db);
    if (!result.report) {
        err << "fogbridge queue: " << result.error << '\n';
        return 1;
    }
    if (json) {
        write_queue_json(*result.report, now, out);
    } else {
        write_queue_text(*result.report, now, out);
    }
    return 0;
}

int run_queue_report(const std::filesystem::path& db, bool json, std::ostream& out) {
    using namespace std::chrono;
    const double now = duration<double>(system_clock::now().time_since_epoch()).count();
    return run_queue_report(db, json, out, std::cerr, now);
}

}  // namespace fogbridge
