// store::inspect: the figures of a store file read-only, at any schema version this build can
// upgrade. Thread-safe (its own connection, no shared state).
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "store/inspection.hpp"
#include "store/schema.hpp"
#include "store/sqlite.hpp"
#include "store/store.hpp"

namespace fogbridge {
namespace {

auto as_uint(std::int64_t v) { return static_cast<std::uint64_t>(std::max<std::int64_t>(0, v)); }
auto real_uint(double v) { return static_cast<std::uint64_t>(v); }

std::optional<double> opt_double(const sqlite::statement& s, int i) {
    if (s.column_is_null(i)) {
        return std::nullopt;
    }
    return s.column_double(i);
}

std::optional<std::uint64_t> opt_uint(const sqlite::statement& s, int i) {
    if (s.column_is_null(i)) {
        return std::nullopt;
    }
    return as_uint(s.column_int(i));
}

std::optional<std::int64_t> meta_int(sqlite::database& db, std::string_view key) {
    sqlite::statement s(db, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?1");
    s.bind_text(1, key);
    if (!s.step()) {
        return std::nullopt;
    }
    return s.column_int(0);
}

std::int64_t required_meta(sqlite::database& db, std::string_view key) {
    const auto v = meta_int(db, key);
    if (!v) {
        throw std::runtime_error(fmt::format("not a fogbridge store (meta.{} missing)", key));
    }
    return *v;
}

bool has_table(sqlite::database& db, std::string_view name) {
    sqlite::statement s(db,
                        "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1");
    s.bind_text(1, name);
    return s.step() && s.column_int(0) > 0;
}

// Pending: above the lease watermark and in no batch. While a backlog drains, live batches are
// leased beyond the watermark (lanes.hpp).
constexpr std::string_view pending_sql =
    "(id > ?1 AND NOT EXISTS (SELECT 1 FROM batches b WHERE id BETWEEN b.first_id AND b.last_id))";

void read_totals(sqlite::database& db, std::int64_t leased_upto, store_inspection& r) {
    const std::string sql = fmt::format(
        "SELECT count(*), total(bytes), total({0}), total(CASE WHEN {0} THEN bytes END), "
        "min(enqueued), max(enqueued) FROM readings",
        pending_sql);
    sqlite::statement totals(db, sql);
    totals.bind_int(1, leased_upto);
    totals.step();
    r.held_readings = as_uint(totals.column_int(0));
    r.held_bytes = real_uint(totals.column_double(1));
    r.pending_readings = real_uint(totals.column_double(2));
    r.leased_readings = r.held_readings - r.pending_readings;
    r.pending_bytes = real_uint(totals.column_double(3));
    r.newest_enqueued = opt_double(totals, 5);

    // By id, not min(enqueued): the first-stored reading, as queue_stats counts it.
    sqlite::statement oldest(db, "SELECT enqueued FROM readings ORDER BY id LIMIT 1");
    if (oldest.step()) {
        r.oldest_enqueued = oldest.column_double(0);
    }

    sqlite::statement batches(db, "SELECT count(*), min(created) FROM batches");
    batches.step();
    r.leased_batches = as_uint(batches.column_int(0));
    r.oldest_batch_created = opt_double(batches, 1);
}

void read_devices(sqlite::database& db, std::int64_t leased_upto, store_inspection& r) {
    std::map<std::pair<std::string, std::int64_t>, inspected_boot> boots;
    // Before schema version 3, readings.device was the name (there was no devices table).
    const std::string sql = fmt::format(
        "SELECT {}, boot, count(*), total(NOT {}), min(seq), max(seq), min(enqueued), "
        "total(bytes) FROM readings GROUP BY device, boot",
        r.schema_version >= 3 ? "(SELECT name FROM devices WHERE id = readings.device)" : "device",
        pending_sql);
    sqlite::statement held(db, sql);
    held.bind_int(1, leased_upto);
    std::map<std::string, std::uint64_t> bytes;
    while (held.step()) {
        const std::string device(held.column_text(0));
        auto& b = boots[{device, held.column_int(1)}];
        b.boot = as_uint(held.column_int(1));
        b.readings = as_uint(held.column_int(2));
        b.leased_readings = real_uint(held.column_double(3));
        b.first_seq = opt_uint(held, 4);
        b.last_seq = opt_uint(held, 5);
        b.oldest_enqueued = opt_double(held, 6);
        bytes[device] += real_uint(held.column_double(7));
    }
    sqlite::statement progress(db, "SELECT device, boot, processed, covered FROM progress");
    while (progress.step()) {
        auto& b = boots[{std::string(progress.column_text(0)), progress.column_int(1)}];
        b.boot = as_uint(progress.column_int(1));
        b.processed = opt_uint(progress, 2);
        b.covered = opt_uint(progress, 3);
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
        d.boots.push_back(b);
    }
}

void read_gaps(sqlite::database& db, store_inspection& r) {
    for (const drop_reason reason :
         {drop_reason::store_full_bytes, drop_reason::store_full_rows, drop_reason::disk_low,
          drop_reason::ttl, drop_reason::store_lost}) {
        r.drops_total[reason] =
            as_uint(meta_int(db, fmt::format("drops_{}", to_string(reason))).value_or(0));
    }
    sqlite::statement waiting(db, "SELECT count(*) FROM gaps WHERE id > ?1");
    waiting.bind_int(1, meta_int(db, "gaps_leased_upto").value_or(0));
    waiting.step();
    r.gap_records = as_uint(waiting.column_int(0));
    sqlite::statement leases(db, "SELECT count(*) FROM gap_leases");
    leases.step();
    r.leased_gap_messages = as_uint(leases.column_int(0));
    sqlite::statement dropped(db, "SELECT reason, total(count) FROM gaps GROUP BY reason");
    while (dropped.step()) {
        // A reason this build does not know (a newer gateway's) is left out of the figures.
        if (const auto reason = drop_reason_from(dropped.column_text(0))) {
            r.gap_readings[*reason] = real_uint(dropped.column_double(1));
        }
    }
}

}  // namespace

store_inspection store::inspect(const std::filesystem::path& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
        throw std::runtime_error("no such store file");
    }
    sqlite::database db(path, sqlite::open_mode::read_only);
    db.exec("PRAGMA busy_timeout=2000");
    // One read transaction: every figure comes from the same snapshot of the file.
    db.exec("BEGIN");
    if (!has_table(db, "meta")) {
        throw std::runtime_error("not a fogbridge store (no meta table)");
    }
    store_inspection r;
    r.schema_version = required_meta(db, "schema_version");
    if (r.schema_version < 1 || r.schema_version > schema::current_version) {
        throw std::runtime_error(
            fmt::format("schema version {} is not one this build reads (1..{})", r.schema_version,
                        schema::current_version));
    }
    const std::int64_t leased_upto = required_meta(db, "leased_upto");
    read_totals(db, leased_upto, r);
    read_devices(db, leased_upto, r);
    read_gaps(db, r);
    db.exec("COMMIT");
    return r;
}

}  // namespace fogbridge
