#include "sink_store.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <set>

#include "sink_schema.hpp"

namespace fogbridge::sink {
namespace {

// Column arrays for one unnest(): text literals built once per batch.
struct columns {
    std::vector<std::string> arrays;
    explicit columns(std::size_t n) : arrays(n, "{") {}
    void text(std::size_t c, std::string_view v) {
        sep(c);
        append_array_text(arrays[c], v);
    }
    template <typename T>
    void number(std::size_t c, const T& v) {
        sep(c);
        fmt::format_to(std::back_inserter(arrays[c]), "{}", v);
    }
    void null(std::size_t c) {
        sep(c);
        arrays[c] += "NULL";
    }
    std::vector<pg_param> params() {
        std::vector<pg_param> out;
        for (auto& a : arrays) out.emplace_back(a + "}");
        return out;
    }

  private:
    void sep(std::size_t c) {
        if (arrays[c].size() > 1) arrays[c] += ',';
    }
};

std::optional<std::string> number_or_null(const std::optional<double>& v) {
    if (!v) return std::nullopt;
    return fmt::format("{}", *v);
}

}  // namespace

sink_store::sink_store(database_settings settings, bool first_gateway_owns)
    : settings_(std::move(settings)), first_gateway_owns_(first_gateway_owns) {}

sink_store::~sink_store() = default;

void sink_store::connect() {
    if (connected()) return;
    db_.reset();
    auto db = std::make_unique<pg_connection>(settings_.conninfo);
    db->exec(fmt::format("SET statement_timeout = {}",
                         static_cast<long>(settings_.statement_timeout * 1000)));
    db->exec("SET synchronous_commit = on");
    migrate(*db, settings_.schema);
    db_ = std::move(db);
}

bool sink_store::connected() const { return db_ && db_->ok(); }

void sink_store::disconnect() { db_.reset(); }

write_result sink_store::write(const message& m, const std::string& topic) {
    write_result r;
    topic_ = topic;
    try {
        db_->exec("BEGIN");
        std::visit(
            [&](const auto& v) {
                using T = std::decay_t<decltype(v)>;
                if constexpr (std::is_same_v<T, batch_message>) {
                    write_batch(v, r);
                    add_rejects(v.gateway, topic, v.rejected, r);
                } else if constexpr (std::is_same_v<T, gaps_message>) {
                    write_gaps(v, r);
                    add_rejects(v.gateway, topic, v.rejected, r);
                } else if constexpr (std::is_same_v<T, alert_message>) {
                    write_alert(v, r);
                } else if constexpr (std::is_same_v<T, health_message>) {
                    write_health(v);
                } else if constexpr (std::is_same_v<T, status_message>) {
                    write_status(v);
                } else {
                    add_rejects(v.gateway, topic, {{v.reason, v.detail}}, r);
                }
            },
            m);
        db_->exec("COMMIT");
        return r;
    } catch (const pg_error& e) {
        if (db_->ok()) {
            try {
                db_->exec("ROLLBACK");
            } catch (const pg_error&) {
            }
        }
        if (e.transient() || !db_->ok()) {
            if (!db_->ok()) db_.reset();
            return {outcome::retry, 0, 0, {}, e.what()};
        }
        // The data itself was refused: record that, so it does not come back forever.
        write_result refused;
        const std::string gw = std::visit([](const auto& v) { return v.gateway; }, m);
        try {
            db_->exec("BEGIN");
            add_rejects(gw, topic, {{"database_refused", e.what()}}, refused);
            db_->exec("COMMIT");
        } catch (const pg_error& again) {
            if (!db_->ok()) db_.reset();
            return {outcome::retry, 0, 0, {}, again.what()};
        }
        return refused;
    }
}

std::vector<std::string> sink_store::foreign_devices(const std::string& gateway,
                                                     std::vector<std::string> devices) {
    if (!first_gateway_owns_ || devices.empty()) return {};
    std::sort(devices.begin(), devices.end());
    devices.erase(std::unique(devices.begin(), devices.end()), devices.end());
    const std::string list = array_literal(devices);
    const auto& s = settings_.schema;
    db_->exec(fmt::format("INSERT INTO {}.devices (device, gateway) SELECT unnest($1::text[]), $2 "
                          "ON CONFLICT DO NOTHING",
                          s),
              {list, gateway});
    const auto rows = db_->exec(
        fmt::format(
            "SELECT device FROM {}.devices WHERE device = ANY($1::text[]) AND gateway <> $2", s),
        {list, gateway});
    std::vector<std::string> out;
    for (std::size_t i = 0; i < rows.size(); ++i) out.emplace_back(rows.at(i, 0));
    return out;
}

void sink_store::write_batch(const batch_message& b, write_result& r) {
    std::vector<std::string> devices;
    for (const auto& x : b.readings) devices.push_back(x.device);
    for (const auto& x : b.ranges) devices.push_back(x.device);
    const auto foreign = foreign_devices(b.gateway, devices);
    const std::set<std::string> not_ours(foreign.begin(), foreign.end());
    std::vector<partial_reject> refused;
    refused.reserve(foreign.size());
    for (const auto& d : foreign) {
        refused.push_back(
            {"foreign_device", fmt::format("device {} belongs to another gateway", d)});
    }
    std::vector<const reading_row*> rows;
    rows.reserve(b.readings.size());
    for (const auto& x : b.readings) {
        if (!not_ours.contains(x.device)) rows.push_back(&x);
    }
    // A fixed order keeps two sinks inserting overlapping batches from deadlocking.
    std::sort(rows.begin(), rows.end(), [](const reading_row* a, const reading_row* z) {
        return std::tie(a->device, a->boot, a->seq) < std::tie(z->device, z->boot, z->seq);
    });
    columns c(11);
    for (const auto* x : rows) {
        c.text(0, x->device);
        c.number(1, x->boot);
        c.number(2, x->seq);
        c.text(3, x->sensor);
        c.number(4, x->ts);
        x->value ? c.number(5, *x->value) : c.null(5);
        x->unit ? c.text(6, *x->unit) : c.null(6);
    }
    for (const auto& x : b.ranges) {
        if (not_ours.contains(x.device)) continue;
        c.text(7, x.device);
        c.number(8, x.boot);
        c.number(9, x.first);
        c.number(10, x.last);
    }
    auto p = c.params();
    for (auto v : {pg_param(b.gateway), pg_param(b.batch_id), pg_param(b.replay ? "t" : "f"),
                   number_or_null(b.created), pg_param(std::to_string(b.readings.size())),
                   pg_param(b.compressed ? "t" : "f")}) {
        p.push_back(std::move(v));
    }
    // One statement, one round trip: readings, coverage and the batch's row.
    const auto done = db_->exec(
        fmt::format(
            "WITH r AS (INSERT INTO {0}.readings (device, boot, seq, sensor, ts, value, unit, "
            "gateway, batch_id) SELECT d, b, q, s, to_timestamp(t), v, u, $12, $13 FROM "
            "unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::float8[], "
            "$6::float8[], $7::text[]) AS x(d, b, q, s, t, v, u) ON CONFLICT DO NOTHING "
            "RETURNING 1), "
            "c AS (INSERT INTO {0}.coverage (device, boot, first_seq, last_seq, source, gateway, "
            "ref) SELECT d, b, f, l, 'batch', $12, $13 FROM unnest($8::text[], $9::bigint[], "
            "$10::bigint[], $11::bigint[]) AS x(d, b, f, l) ON CONFLICT DO NOTHING), "
            "n AS (SELECT count(*) AS inserted FROM r), "
            "m AS (INSERT INTO {0}.batches (gateway, batch_id, replay, created, readings, "
            "inserted, compressed) SELECT $12, $13, $14::boolean, to_timestamp($15::float8), "
            "$16::integer, inserted, $17::boolean FROM n ON CONFLICT DO NOTHING) "
            "SELECT inserted FROM n",
            settings_.schema),
        p);
    r.rows = std::stoull(std::string(done.at(0, 0)));
    r.duplicates = rows.size() - r.rows;
    if (!b.refused.empty()) {
        columns k(3);
        for (const auto& x : b.refused) {
            k.text(0, x.device);
            k.number(1, x.boot);
            k.number(2, x.seq);
        }
        auto q = k.params();
        q.emplace_back(b.gateway);
        q.emplace_back(b.batch_id);
        db_->exec(fmt::format("INSERT INTO {}.refused (device, boot, seq, gateway, batch_id) "
                              "SELECT d, b, q, $4, $5 FROM unnest($1::text[], $2::bigint[], "
                              "$3::bigint[]) AS x(d, b, q) ON CONFLICT DO NOTHING",
                              settings_.schema),
                  q);
    }
    add_rejects(b.gateway, "", refused, r);
}

void sink_store::write_gaps(const gaps_message& g, write_result& r) {
    std::vector<std::string> devices;
    for (const auto& x : g.gaps) devices.push_back(x.device);
    const auto foreign = foreign_devices(g.gateway, devices);
    const std::set<std::string> not_ours(foreign.begin(), foreign.end());
    std::vector<partial_reject> refused;
    const auto& s = settings_.schema;
    for (const auto& x : g.gaps) {
        if (not_ours.contains(x.device)) {
            refused.push_back(
                {"foreign_device", fmt::format("device {} belongs to another gateway", x.device)});
            continue;
        }
        const std::vector<pg_param> p{
            x.device, std::to_string(x.boot),  std::to_string(x.first), std::to_string(x.last),
            x.reason, std::to_string(x.count), x.dropped_json,          g.gateway,
            g.gap_id};
        db_->exec(fmt::format("INSERT INTO {}.gaps (device, boot, first_seq, last_seq, reason, "
                              "count, dropped, gateway, gap_id) VALUES ($1, $2, $3, $4, $5, $6, "
                              "$7::jsonb, $8, $9) ON CONFLICT DO NOTHING",
                              s),
                  p);
        db_->exec(fmt::format("INSERT INTO {}.coverage (device, boot, first_seq, last_seq, "
                              "source, gateway, ref) VALUES ($1, $2, $3, $4, 'gap', $5, $6) "
                              "ON CONFLICT DO NOTHING",
                              s),
                  {p[0], p[1], p[2], p[3], p[7], p[8]});
    }
    add_rejects(g.gateway, "", refused, r);
}

void sink_store::write_alert(const alert_message& a, write_result& r) {
    if (!foreign_devices(a.gateway, {a.device}).empty()) {
        add_rejects(
            a.gateway, "",
            {{"foreign_device", fmt::format("device {} belongs to another gateway", a.device)}}, r);
        return;
    }
    db_->exec(
        fmt::format("INSERT INTO {}.alerts (gateway, device, ts, body, digest) VALUES ($1, "
                    "$2, to_timestamp($3), $4::text::jsonb, md5($4::text)) ON CONFLICT DO NOTHING",
                    settings_.schema),
        {a.gateway, a.device, number_or_null(a.ts), a.body});
}

void sink_store::write_health(const health_message& h) {
    db_->exec(fmt::format("INSERT INTO {}.health AS h (gateway, device, ts, body) VALUES ($1, $2, "
                          "to_timestamp($3), $4::jsonb) ON CONFLICT (gateway, device) DO UPDATE "
                          "SET ts = excluded.ts, body = excluded.body, arrived = now() WHERE "
                          "h.ts IS NULL OR excluded.ts IS NULL OR h.ts <= excluded.ts",
                          settings_.schema),
              {h.gateway, h.device, number_or_null(h.ts), h.body});
}

void sink_store::write_status(const status_message& st) {
    db_->exec(fmt::format("INSERT INTO {}.gateways (gateway, status, status_at) VALUES ($1, $2, "
                          "now()) ON CONFLICT (gateway) DO UPDATE SET status = excluded.status, "
                          "status_at = excluded.status_at",
                          settings_.schema),
              {st.gateway, st.status});
}

void sink_store::add_rejects(const std::string& gateway, const std::string& topic,
                             const std::vector<partial_reject>& rejects, write_result& r) {
    if (rejects.empty()) return;
    std::vector<std::string> reasons;
    std::vector<std::string> details;
    for (const auto& x : rejects) {
        ++r.rejected[x.reason];
        reasons.push_back(x.reason);
        details.push_back(x.detail.substr(0, 500));
    }
    db_->exec(
        fmt::format("INSERT INTO {}.rejects (gateway, topic, reason, detail) SELECT $1, $2, "
                    "r, d FROM unnest($3::text[], $4::text[]) AS x(r, d)",
                    settings_.schema),
        {gateway, topic.empty() ? topic_ : topic, array_literal(reasons), array_literal(details)});
}

}  // namespace fogbridge::sink
