#include "ops/metrics.hpp"

#include <fmt/format.h>

#include <cmath>
#include <initializer_list>
#include <utility>

namespace fogbridge {
namespace {

using label = std::pair<std::string_view, std::string_view>;

// Appends families and samples to one page; samples must follow their family's header.
class page_writer final {
  public:
    void family(std::string_view name, std::string_view type, std::string_view help) {
        fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name,
                       escape_help(help), name, type);
    }
    void sample(std::string_view name, std::initializer_list<label> labels,
                std::string_view value) {
        out_ += name;
        if (labels.size() > 0) {
            out_ += '{';
            bool first = true;
            for (const auto& [key, v] : labels) {
                if (!first) {
                    out_ += ',';
                }
                first = false;
                fmt::format_to(std::back_inserter(out_), "{}=\"{}\"", key, escape_label_value(v));
            }
            out_ += '}';
        }
        fmt::format_to(std::back_inserter(out_), " {}\n", value);
    }
    void sample(std::string_view name, std::initializer_list<label> labels, std::uint64_t v) {
        sample(name, labels, std::string_view(fmt::format("{}", v)));
    }
    void sample(std::string_view name, std::initializer_list<label> labels, double v) {
        sample(name, labels, std::string_view(format_sample_value(v)));
    }

    // One family with one unlabelled sample.
    void counter(std::string_view name, std::string_view help, std::uint64_t v) {
        family(name, "counter", help);
        sample(name, {}, v);
    }
    template <typename T>
    void gauge(std::string_view name, std::string_view help, T v) {
        family(name, "gauge", help);
        sample(name, {}, v);
    }
    template <typename T>
    void gauge(std::string_view name, std::string_view help, const std::optional<T>& v) {
        if (v) {
            gauge(name, help, *v);
        }
    }

    std::string take() { return std::move(out_); }

  private:
    std::string out_;
};

// A counter family with one label: its name, help text and the label's name.
struct labelled_counter {
    std::string_view name;
    std::string_view help;
    std::string_view label;
};

void by_label(page_writer& w, const labelled_counter& c,
              const std::map<std::string, std::uint64_t>& values) {
    w.family(c.name, "counter", c.help);
    for (const auto& [k, v] : values) {
        w.sample(c.name, {{c.label, k}}, v);
    }
}

void readings(page_writer& w, const reading_figures& r, const uplink_status& u,
              const queue_figures& q) {
    w.counter("fogbridge_readings_received_total", "Valid readings received from devices.",
              r.received);
    w.counter("fogbridge_readings_stored_total", "Readings committed to the store.", r.stored);
    w.counter("fogbridge_readings_filtered_total",
              "Readings dropped by the significant-change filter.", r.filtered);
    w.counter("fogbridge_readings_duplicate_total",
              "Re-sent readings dropped as duplicates by (device, boot, seq).", r.duplicates);
    w.counter("fogbridge_readings_acked_total",
              "Readings in batches the cloud broker acknowledged.", u.readings_acked);
    w.counter("fogbridge_readings_sent_total",
              "Readings in batches the cloud broker acknowledged (as readings_acked).",
              u.readings_acked);
    by_label(w,
             {.name = "fogbridge_rejects_total",
              .help = "Rejected device inputs by reason.",
              .label = "reason"},
             r.rejected);
    const std::string_view drops = "fogbridge_drops_total";
    w.family(drops, "counter", "Stored readings dropped before delivery, by reason.");
    for (const auto reason : {drop_reason::store_full_bytes, drop_reason::store_full_rows,
                              drop_reason::disk_low, drop_reason::ttl, drop_reason::store_lost}) {
        w.sample(drops, {{"reason", to_string(reason)}}, q.drops[reason]);
    }
    const std::string_view decisions = "fogbridge_filter_decisions_total";
    w.family(decisions, "counter", "Filter decisions by rule and decision.");
    for (const auto& [rule, counts] : r.filter_decisions) {
        for (const auto& [decision, n] : counts) {
            w.sample(decisions, {{"rule", rule}, {"decision", decision}}, n);
        }
    }
}

void uplink_families(page_writer& w, const uplink_status& u) {
    w.counter("fogbridge_batches_sent_total", "Batches published to the cloud broker.",
              u.batches_sent);
    w.counter("fogbridge_replay_batches_sent_total",
              "Backlog batches (tagged replay) published to the cloud broker.",
              u.replay_batches_sent);
    w.counter("fogbridge_batches_acked_total", "Batches acknowledged by the cloud broker.",
              u.batches_acked);
    w.counter("fogbridge_batches_refused_total",
              "Batches the cloud broker answered with an error reason code.", u.batches_refused);
    w.counter("fogbridge_uplink_bytes_total",
              "Batch payload bytes sent to the cloud broker, after compression.", u.bytes_sent);
    w.counter("fogbridge_uplink_connects_total", "Connections made to the cloud broker.",
              u.connects);
    w.counter("fogbridge_uplink_store_errors_total",
              "Store calls of the uplink that failed; each ended the cloud session.",
              u.store_errors);
    w.gauge("fogbridge_uplink_connected", "1 when connected to the cloud broker, else 0.",
            std::uint64_t{u.state == uplink_state::connected ? 1U : 0U});
    w.gauge("fogbridge_uplink_state_since_seconds",
            "When the uplink entered its current state, seconds since the epoch.", u.since);
    w.gauge("fogbridge_uplink_in_flight_batches", "Batches sent and not yet acknowledged.",
            std::uint64_t{u.in_flight});
    w.gauge("fogbridge_uplink_oldest_unacked_age_seconds",
            "How long the message waiting longest for its PUBACK has waited; absent when none.",
            u.oldest_unacked_age_s);
}

void local(page_writer& w, const local_link_status& l) {
    w.gauge("fogbridge_local_subscribed",
            "1 when connected to the local broker with every subscription granted, else 0.",
            std::uint64_t{l.subscribed ? 1U : 0U});
    w.counter("fogbridge_local_connects_total", "Connections accepted by the local broker.",
              l.connects);
    w.counter("fogbridge_local_protocol_errors_total",
              "Local broker connections ended by a packet MQTT forbids.", l.protocol_errors);
    w.counter("fogbridge_local_subscription_refused_total",
              "Local broker connections ended because a subscription was refused or granted at "
              "QoS 0.",
              l.subscription_refused);
}

void latency(page_writer& w, const latency_summary& l) {
    const std::string_view name = "fogbridge_puback_latency_seconds";
    w.family(name, "summary", "Time from publishing a batch to its PUBACK.");
    if (l.p50) {
        w.sample(name, {{"quantile", "0.5"}}, *l.p50);
    }
    if (l.p99) {
        w.sample(name, {{"quantile", "0.99"}}, *l.p99);
    }
    w.sample("fogbridge_puback_latency_seconds_sum", {}, l.sum);
    w.sample("fogbridge_puback_latency_seconds_count", {}, l.count);
    w.gauge("fogbridge_puback_latency_max_seconds",
            "Longest PUBACK latency among the recent batches the quantiles cover.", l.max);
}

void queue(page_writer& w, const queue_figures& q, const std::optional<double>& drain_s) {
    w.gauge("fogbridge_queue_readings", "Readings held in the store, pending or in a batch.",
            q.held_readings);
    w.gauge("fogbridge_queue_pending_readings", "Readings held in the store, not yet in a batch.",
            q.pending_readings);
    w.gauge("fogbridge_queue_bytes",
            "Estimated JSON bytes of the readings held in the store (as queue_held_bytes).",
            q.held_bytes);
    w.gauge("fogbridge_queue_held_bytes",
            "Estimated JSON bytes of the readings held in the store, pending or in a batch.",
            q.held_bytes);
    w.gauge("fogbridge_queue_pending_bytes",
            "Estimated JSON bytes of the readings held in the store, not yet in a batch.",
            q.pending_bytes);
    w.gauge("fogbridge_queue_leased_batches", "Batches leased and not yet acknowledged.",
            q.leased_batches);
    w.gauge("fogbridge_queue_replay_readings",
            "Readings of the backlog left by an outage, drained beside live data.",
            q.backlog_readings);
    w.gauge("fogbridge_queue_gap_records", "Gap records not yet sent.", q.gap_records);
    w.gauge("fogbridge_queue_oldest_age_seconds", "Age of the oldest reading held in the store.",
            q.oldest_held_age_s);
    w.gauge("fogbridge_queue_drain_estimate_seconds",
            "Queue depth over the recent net drain rate; absent when not draining.", drain_s);
}

void resources(page_writer& w, const ops_figures& o) {
    const auto& p = o.process;
    if (p.process_cpu_seconds) {
        w.family("fogbridge_process_cpu_seconds_total", "counter",
                 "User and system CPU time of the gateway process.");
        w.sample("fogbridge_process_cpu_seconds_total", {}, *p.process_cpu_seconds);
    }
    w.gauge("fogbridge_process_resident_memory_bytes", "Resident memory of the gateway process.",
            p.rss_bytes);
    w.gauge("fogbridge_process_resident_memory_max_bytes",
            "Peak resident memory of the gateway process.", p.peak_rss_bytes);
    w.gauge("fogbridge_host_memory_total_bytes", "Memory of the host.", p.mem_total_bytes);
    w.gauge("fogbridge_host_memory_available_bytes", "Memory available on the host.",
            p.mem_available_bytes);
    if (o.disk) {
        w.gauge("fogbridge_disk_free_bytes",
                "Free space on the file system of the store, for an unprivileged writer.",
                o.disk->free_bytes);
    }
}

void store_families(page_writer& w, const store_figures& s, const ops_figures& o) {
    if (o.disk) {
        w.gauge("fogbridge_disk_total_bytes", "Size of the file system of the store.",
                o.disk->total_bytes);
    }
    w.gauge("fogbridge_store_writable",
            "1 while the store takes writes; 0 while commits fail and devices wait for acks.",
            std::uint64_t{s.writable() ? 1U : 0U});
    w.counter("fogbridge_store_commit_failures_total",
              "Store transactions that failed (full disk, I/O error), each retried.",
              s.commit_failures);
    w.counter("fogbridge_store_reopens_total",
              "Times the store's file was reopened after an I/O error.", s.reopens);
    if (!o.certificate_not_after.empty()) {
        const std::string_view name = "fogbridge_certificate_expiry_timestamp_seconds";
        w.family(name, "gauge", "Expiry (notAfter) of the client certificate of each link.");
        for (const auto& [link, t] : o.certificate_not_after) {
            w.sample(name, {{"link", link}}, t);
        }
    }
}

}  // namespace

std::string escape_label_value(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (const char c : v) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '"':
                out += "\\\"";
                break;
            case '\n':
                out += "\\n";
                break;
            default:
                out += c;
        }
    }
    return out;
}

std::string escape_help(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (const char c : v) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            default:
                out += c;
        }
    }
    return out;
}

std::string format_sample_value(double v) {
    if (std::isnan(v)) {
        return "NaN";
    }
    if (std::isinf(v)) {
        return v > 0 ? "+Inf" : "-Inf";
    }
    return fmt::format("{}", v);
}

std::string render_metrics(const gateway_figures& f) {
    page_writer w;
    w.family("fogbridge_build_info", "gauge", "Version and identity of this gateway; always 1.");
    w.sample("fogbridge_build_info", {{"gateway", f.gateway_id}, {"version", f.version}},
             std::uint64_t{1});
    w.gauge("fogbridge_start_time_seconds",
            "Start time of the gateway process, seconds since the epoch.", f.started);
    readings(w, f.readings, f.uplink, f.queue);
    uplink_families(w, f.uplink);
    local(w, f.local);
    latency(w, f.ops.puback);
    queue(w, f.queue, f.ops.drain_s);
    resources(w, f.ops);
    store_families(w, f.store, f.ops);
    return w.take();
}

}  // namespace fogbridge
