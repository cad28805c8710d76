#include "sink_schema.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace fogbridge::sink {
namespace {

// Version 1. readings' key includes ts only because a TimescaleDB hypertable needs its time
// column in every unique key; a reading keeps its ts through every re-send, so (device, boot,
// seq) stays the identity.
constexpr const char* schema_v1 = R"sql(
CREATE TABLE {s}.readings (
    device text NOT NULL, boot bigint NOT NULL, seq bigint NOT NULL, sensor text NOT NULL,
    ts timestamptz NOT NULL, value double precision, unit text, gateway text NOT NULL,
    batch_id text NOT NULL, arrived timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device, boot, seq, ts));
CREATE TABLE {s}.batches (
    gateway text NOT NULL, batch_id text NOT NULL, replay boolean NOT NULL,
    created timestamptz, readings integer NOT NULL, inserted integer NOT NULL,
    compressed boolean NOT NULL, arrived timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (gateway, batch_id));
CREATE TABLE {s}.coverage (
    device text NOT NULL, boot bigint NOT NULL, first_seq bigint NOT NULL,
    last_seq bigint NOT NULL, source text NOT NULL, gateway text NOT NULL, ref text NOT NULL,
    arrived timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device, boot, first_seq, last_seq, source));
CREATE TABLE {s}.gaps (
    device text NOT NULL, boot bigint NOT NULL, first_seq bigint NOT NULL,
    last_seq bigint NOT NULL, reason text NOT NULL, count bigint NOT NULL, dropped jsonb NOT NULL,
    gateway text NOT NULL, gap_id text NOT NULL, arrived timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device, boot, first_seq, last_seq, reason));
CREATE TABLE {s}.alerts (
    id bigserial PRIMARY KEY, gateway text NOT NULL, device text NOT NULL, ts timestamptz,
    body jsonb NOT NULL, digest text NOT NULL, arrived timestamptz NOT NULL DEFAULT now(),
    UNIQUE (gateway, digest));
CREATE TABLE {s}.health (
    gateway text NOT NULL, device text NOT NULL, ts timestamptz, body jsonb NOT NULL,
    arrived timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (gateway, device));
CREATE TABLE {s}.gateways (
    gateway text PRIMARY KEY, status text, status_at timestamptz,
    first_seen timestamptz NOT NULL DEFAULT now());
CREATE TABLE {s}.devices (
    device text PRIMARY KEY, gateway text NOT NULL, first_seen timestamptz NOT NULL DEFAULT now());
CREATE TABLE {s}.refused (
    device text NOT NULL, boot bigint NOT NULL, seq bigint NOT NULL, gateway text NOT NULL,
    batch_id text NOT NULL, arrived timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device, boot, seq));
CREATE TABLE {s}.rejects (
    id bigserial PRIMARY KEY, arrived timestamptz NOT NULL DEFAULT now(), gateway text NOT NULL,
    topic text NOT NULL, reason text NOT NULL, detail text NOT NULL);
CREATE VIEW {s}.missing AS
WITH spans AS (
    SELECT device, boot, seq AS lo, seq AS hi FROM {s}.readings
    UNION ALL
    SELECT device, boot, first_seq, last_seq FROM {s}.coverage),
ordered AS (
    SELECT device, boot, lo, hi,
           max(hi) OVER (PARTITION BY device, boot ORDER BY lo, hi
                         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
    FROM spans)
SELECT device, boot, coalesce(before, 0) + 1 AS first_seq, lo - 1 AS last_seq,
       lo - 1 - coalesce(before, 0) AS count
FROM ordered WHERE lo > coalesce(before, 0) + 1
UNION ALL
SELECT device, boot, seq, seq, 1 FROM {s}.refused AS f
WHERE NOT EXISTS (SELECT 1 FROM {s}.readings AS r
                  WHERE r.device = f.device AND r.boot = f.boot AND r.seq = f.seq);
)sql";

std::string with_schema(const char* sql, const std::string& schema) {
    std::string out;
    std::string_view rest(sql);
    while (true) {
        const auto at = rest.find("{s}");
        out += rest.substr(0, at);
        if (at == std::string_view::npos) break;
        out += schema;
        rest.remove_prefix(at + 3);
    }
    return out;
}

}  // namespace

void migrate(pg_connection& db, const std::string& schema) {
    db.exec("BEGIN");
    try {
        db.exec("SELECT pg_advisory_xact_lock(hashtext('fogbridge-sink:" + schema + "'))");
        db.exec(
            fmt::format("CREATE SCHEMA IF NOT EXISTS {0}; CREATE TABLE IF NOT EXISTS "
                        "{0}.schema_version (version integer NOT NULL)",
                        schema));
        const auto rows =
            db.exec(fmt::format("SELECT max(version) FROM {}.schema_version", schema));
        const int have = rows.is_null(0, 0) ? 0 : std::stoi(std::string(rows.at(0, 0)));
        if (have > schema_version) {
            throw std::runtime_error(fmt::format(
                "database: schema {} is at version {}, newer than this sink's {}; upgrade the sink",
                schema, have, schema_version));
        }
        if (have < 1) db.exec(with_schema(schema_v1, schema));
        if (have < schema_version) {
            db.exec(
                fmt::format("DELETE FROM {0}.schema_version; INSERT INTO {0}.schema_version "
                            "VALUES ({1})",
                            schema, schema_version));
        }
        db.exec("COMMIT");
    } catch (...) {
        if (db.ok()) db.exec("ROLLBACK");
        throw;
    }
}

audit_report audit(pg_connection& db, const std::string& schema) {
    audit_report r;
    const auto runs = db.exec(fmt::format(
        "SELECT device, boot, first_seq, last_seq FROM {}.missing ORDER BY 1, 2, 3", schema));
    for (std::size_t i = 0; i < runs.size(); ++i) {
        missing_run m{std::string(runs.at(i, 0)), std::stoull(std::string(runs.at(i, 1))),
                      std::stoull(std::string(runs.at(i, 2))),
                      std::stoull(std::string(runs.at(i, 3)))};
        r.missing += m.last - m.first + 1;
        r.runs.push_back(std::move(m));
    }
    const auto totals = db.exec(fmt::format(
        "SELECT (SELECT count(*) FROM {0}.readings), "
        "(SELECT coalesce(sum((d->>1)::bigint - (d->>0)::bigint + 1), 0) FROM {0}.gaps, "
        "jsonb_array_elements(dropped) AS d), "
        "(SELECT count(*) FROM (SELECT device, boot FROM {0}.readings UNION "
        "SELECT device, boot FROM {0}.coverage) AS x)",
        schema));
    r.delivered = std::stoull(std::string(totals.at(0, 0)));
    r.dropped = std::stoull(std::string(totals.at(0, 1)));
    r.devices = std::stoull(std::string(totals.at(0, 2)));
    return r;
}

}  // namespace fogbridge::sink
