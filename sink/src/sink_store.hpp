// Writes one parsed message into PostgreSQL in one transaction, idempotently: readings keyed by
// (device, boot, seq) with ON CONFLICT DO NOTHING, coverage and gap records, alerts, the latest
// health, rejects with their reason. Not thread-safe: one connection.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "pg.hpp"
#include "sink_config.hpp"
#include "sink_message.hpp"

namespace fogbridge::sink {

enum class outcome {
    committed,  // done (rows may have been absorbed as duplicates or rejected): acknowledge
    retry,      // the database is unavailable: keep the message, do not acknowledge
};

struct write_result {
    outcome result = outcome::committed;
    std::uint64_t rows = 0;                         // readings inserted
    std::uint64_t duplicates = 0;                   // readings already there
    std::map<std::string, std::uint64_t> rejected;  // reason -> count, for whole or partial
    std::string error;                              // with retry: why
};

class sink_store final {
  public:
    sink_store(database_settings settings, bool first_gateway_owns);
    ~sink_store();

    // Connects (and migrates the schema) unless connected. Throws pg_error when the database
    // cannot be reached, std::runtime_error when its schema is newer than this sink's.
    void connect();
    bool connected() const;
    void disconnect();
    write_result write(const message& m, const std::string& topic);
    pg_connection& connection() { return *db_; }

  private:
    void write_batch(const batch_message& b, write_result& r);
    void write_gaps(const gaps_message& g, write_result& r);
    void write_alert(const alert_message& a, write_result& r);
    void write_health(const health_message& h);
    void write_status(const status_message& s);
    void add_rejects(const std::string& gateway, const std::string& topic,
                     const std::vector<partial_reject>& rejects, write_result& r);
    // The devices of `devices` another gateway owns; claims the unowned ones for `gateway`.
    std::vector<std::string> foreign_devices(const std::string& gateway,
                                             std::vector<std::string> devices);

    database_settings settings_;
    bool first_gateway_owns_;
    std::unique_ptr<pg_connection> db_;
    std::string topic_;  // of the message being written, for its rejects
};

}  // namespace fogbridge::sink
