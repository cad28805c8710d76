// Turns a store file made by this build back into the layout of an older schema version, as a
// gateway of that version left it: for the upgrade tests and readers of old files.
#pragma once

#include <filesystem>

#include "store/sqlite.hpp"

// Version 3: no per-device index, no board-clock mark (readings.ts_gw).
inline void make_version_3(const std::filesystem::path& path) {
    fogbridge::sqlite::database db(path);
    db.exec(
        "BEGIN;"
        "DROP INDEX readings_device;"
        "ALTER TABLE readings DROP COLUMN ts_gw;"
        "UPDATE meta SET value = 3 WHERE key = 'schema_version';"
        "COMMIT;");
}

// Version 2: device names in `readings`, no `devices` table.
inline void make_version_2(const std::filesystem::path& path) {
    fogbridge::sqlite::database db(path);
    db.exec(
        "BEGIN;"
        "CREATE TABLE readings_v2(id INTEGER PRIMARY KEY, device TEXT NOT NULL, "
        "boot INTEGER NOT NULL, seq INTEGER NOT NULL, sensor TEXT NOT NULL, value REAL NOT NULL, "
        "unit TEXT NOT NULL, ts REAL NOT NULL, bytes INTEGER NOT NULL, enqueued REAL NOT NULL);"
        "INSERT INTO readings_v2 SELECT r.id, d.name, r.boot, r.seq, r.sensor, r.value, r.unit, "
        "r.ts, r.bytes, r.enqueued FROM readings AS r JOIN devices AS d ON d.id = r.device;"
        "DROP TABLE readings;"
        "DROP TABLE devices;"
        "ALTER TABLE readings_v2 RENAME TO readings;"
        "CREATE UNIQUE INDEX readings_series ON readings(device, boot, seq);"
        "UPDATE meta SET value = 2 WHERE key = 'schema_version';"
        "COMMIT;");
}

// Version 1 had no backlog lane either.
inline void make_version_1(const std::filesystem::path& path) {
    make_version_2(path);
    fogbridge::sqlite::database db(path);
    db.exec("ALTER TABLE batches DROP COLUMN replay");
    db.exec("DELETE FROM meta WHERE key = 'backlog_end'");
    db.exec("UPDATE meta SET value = 1 WHERE key = 'schema_version'");
}
