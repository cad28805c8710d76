#include "store/schema.hpp"

#include <fmt/format.h>

#include <charconv>
#include <random>
#include <stdexcept>

namespace fogbridge::schema {
namespace {

// Readings are numbered by the store (id, never reused). A batch holds exactly the readings with
// first_id <= id <= last_id; reading, leasing and acknowledging are rowid range scans, and a
// lease rewrites no reading. A reading is pending when its id is above meta.leased_upto and in no
// batch; pending readings up to meta.backlog_end are the backlog (lanes.hpp). Gap records and gap
// leases work like one lane with meta.gaps_leased_upto.
// ahead: runs of seqs above the progress.covered watermark that are accounted already (carried
// by a batch, or inside a gap record), so that the watermark passes them without reporting them.
// progress.gap_hi: the highest seq any gap record of the series ever spanned; records only grow
// at that end, so that they never overlap. touched: last commit or lease that changed the row.
// readings.ts_gw: 1 when the gateway computed ts from the board's uptime (board_clock).
// readings.device is devices.id: the unique index that makes a re-send idempotent then compares
// three integers instead of starting with the device name (schema version 3).
constexpr const char* create_sql = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value NOT NULL) WITHOUT ROWID;
CREATE TABLE devices(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE readings(
    id INTEGER PRIMARY KEY,
    device INTEGER NOT NULL,
    boot INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    sensor TEXT NOT NULL,
    value REAL NOT NULL,
    unit TEXT NOT NULL,
    ts REAL NOT NULL,
    bytes INTEGER NOT NULL,
    enqueued REAL NOT NULL,
    ts_gw INTEGER NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX readings_series ON readings(device, boot, seq);
CREATE INDEX readings_device ON readings(device);
CREATE TABLE progress(
    device TEXT NOT NULL,
    boot INTEGER NOT NULL,
    processed INTEGER NOT NULL,
    covered INTEGER NOT NULL,
    gap_hi INTEGER NOT NULL DEFAULT 0,
    touched REAL NOT NULL DEFAULT 0,
    PRIMARY KEY(device, boot)) WITHOUT ROWID;
CREATE TABLE ahead(
    device TEXT NOT NULL,
    boot INTEGER NOT NULL,
    first INTEGER NOT NULL,
    last INTEGER NOT NULL,
    PRIMARY KEY(device, boot, first)) WITHOUT ROWID;
CREATE TABLE batches(
    ord INTEGER PRIMARY KEY,
    batch_id TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    first_id INTEGER NOT NULL,
    last_id INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    ranges TEXT NOT NULL,
    replay INTEGER NOT NULL DEFAULT 0);
CREATE TABLE gaps(
    id INTEGER PRIMARY KEY,
    device TEXT NOT NULL,
    boot INTEGER NOT NULL,
    reason TEXT NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    count INTEGER NOT NULL,
    dropped TEXT NOT NULL,
    first_ts REAL NOT NULL,
    last_ts REAL NOT NULL,
    created REAL NOT NULL);
CREATE INDEX gaps_series ON gaps(device, boot, last_seq);
CREATE TABLE gap_leases(
    ord INTEGER PRIMARY KEY,
    gap_id TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    first_id INTEGER NOT NULL,
    last_id INTEGER NOT NULL);
CREATE TABLE filter_state(
    device TEXT NOT NULL,
    sensor TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY(device, sensor)) WITHOUT ROWID;
)sql";

std::string random_epoch() {
    std::random_device rd;
    const std::uint64_t hi = rd();
    const std::uint64_t lo = rd();
    return fmt::format("{:016x}", (hi << 32U) ^ lo);
}

std::string one_text(sqlite::database& db, const char* sql) {
    sqlite::statement s(db, sql);
    if (!s.step()) {
        return {};
    }
    return std::string(s.column_text(0));
}

void set_journal_and_sync(sqlite::database& db, sync_mode synchronous) {
    db.exec("PRAGMA busy_timeout=5000");
    // The first read of the file: a file that is not a database fails here.
    const std::string mode = one_text(db, "PRAGMA journal_mode=WAL");
    if (mode != "wal") {
        throw std::runtime_error(fmt::format("cannot use WAL mode ({})", mode));
    }
    db.exec(synchronous == sync_mode::full ? "PRAGMA synchronous=FULL"
                                           : "PRAGMA synchronous=NORMAL");
    // A multi-row insert inside the commit's transaction keeps a statement journal (the pages it
    // changes, for undoing just that statement); on a temp file that was two writes per page.
    // The store's sorts and groupings are small, so nothing large lands in memory instead.
    db.exec("PRAGMA temp_store=MEMORY");
}

void create(sqlite::database& db) {
    db.exec(create_sql);
    sqlite::statement put(db, "INSERT INTO meta(key, value) VALUES(?1, ?2)");
    put.bind_text(1, "schema_version");
    put.bind_int(2, current_version);
    put.run();
    put.reset();
    const std::string epoch = random_epoch();
    put.bind_text(1, "store_epoch");
    put.bind_text(2, epoch);
    put.run();
    for (const char* counter :
         {"batch_counter", "leased_upto", "backlog_end", "gap_counter", "gaps_leased_upto",
          "drops_store_full_bytes", "drops_store_full_rows", "drops_disk_low", "drops_ttl"}) {
        put.reset();
        put.bind_text(1, counter);
        put.bind_int(2, 0);
        put.run();
    }
}

// Version 2 added the backlog lane: batches.replay and meta.backlog_end (no backlog yet).
void migrate_1_to_2(sqlite::database& db) {
    db.exec("ALTER TABLE batches ADD COLUMN replay INTEGER NOT NULL DEFAULT 0");
    db.exec(
        "INSERT INTO meta(key, value) SELECT 'backlog_end', value FROM meta "
        "WHERE key = 'leased_upto'");
    db.exec("UPDATE meta SET value = 2 WHERE key = 'schema_version'");
}

// Version 3 numbers the devices: readings.device becomes devices.id. The table is copied with its
// ids, so every lease (an id range), batch_id and gap record stays as it was.
void migrate_2_to_3(sqlite::database& db) {
    db.exec(
        "CREATE TABLE devices(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
        "INSERT INTO devices(name) SELECT DISTINCT device FROM readings ORDER BY device;"
        "CREATE TABLE readings_v3("
        "id INTEGER PRIMARY KEY, device INTEGER NOT NULL, boot INTEGER NOT NULL, "
        "seq INTEGER NOT NULL, sensor TEXT NOT NULL, value REAL NOT NULL, unit TEXT NOT NULL, "
        "ts REAL NOT NULL, bytes INTEGER NOT NULL, enqueued REAL NOT NULL);"
        "INSERT INTO readings_v3(id, device, boot, seq, sensor, value, unit, ts, bytes, enqueued) "
        "SELECT r.id, d.id, r.boot, r.seq, r.sensor, r.value, r.unit, r.ts, r.bytes, r.enqueued "
        "FROM readings AS r JOIN devices AS d ON d.name = r.device ORDER BY r.id;"
        "DROP TABLE readings;"
        "ALTER TABLE readings_v3 RENAME TO readings;"
        "CREATE UNIQUE INDEX readings_series ON readings(device, boot, seq);"
        "UPDATE meta SET value = 3 WHERE key = 'schema_version';");
}

// Version 4 indexes readings by device (rowid order within a device: a board over its share of
// a full store gives up its own oldest readings) and keeps the board-clock mark (ts_gw: the
// gateway computed ts from the board's uptime; "ts_src":"gw" in batches).
void migrate_3_to_4(sqlite::database& db) {
    db.exec(
        "CREATE INDEX readings_device ON readings(device);"
        "ALTER TABLE readings ADD COLUMN ts_gw INTEGER NOT NULL DEFAULT 0;"
        "UPDATE meta SET value = 4 WHERE key = 'schema_version';");
}

void check_version(sqlite::database& db) {
    const std::string text = one_text(db, "SELECT value FROM meta WHERE key='schema_version'");
    int version = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
    if (ec != std::errc{} || end != text.data() + text.size() || version < 1) {
        throw std::runtime_error(fmt::format("unknown schema version '{}'", text));
    }
    if (version > current_version) {
        throw std::runtime_error(
            fmt::format("schema version {} is newer than this gateway supports ({})", version,
                        current_version));
    }
    if (version == 1) {
        migrate_1_to_2(db);
    }
    if (version <= 2) {
        migrate_2_to_3(db);
    }
    if (version <= 3) {
        migrate_3_to_4(db);
    }
}

}  // namespace

std::string prepare(sqlite::database& db, sync_mode synchronous) {
    set_journal_and_sync(db, synchronous);
    db.exec("BEGIN IMMEDIATE");
    try {
        const std::string tables =
            one_text(db, "SELECT count(*) FROM sqlite_schema WHERE type='table'");
        const std::string has_meta =
            one_text(db, "SELECT count(*) FROM sqlite_schema WHERE type='table' AND name='meta'");
        if (has_meta == "0") {
            if (tables != "0") {
                throw std::runtime_error("not a fogbridge store (no meta table)");
            }
            create(db);
        }
        check_version(db);
        db.exec("COMMIT");
    } catch (...) {
        try {
            db.exec("ROLLBACK");
        } catch (...) {  // NOLINT(bugprone-empty-catch): the first error is the one to report
        }
        throw;
    }
    std::string epoch = one_text(db, "SELECT value FROM meta WHERE key='store_epoch'");
    if (epoch.size() != 16) {
        throw std::runtime_error("store_epoch missing or malformed");
    }
    return epoch;
}

}  // namespace fogbridge::schema
