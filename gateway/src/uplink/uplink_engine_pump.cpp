// uplink_engine: what goes into the window next (urgent lanes, gap records, batches leased
// already, live and backlog batches). See uplink_engine.hpp.
#include <algorithm>

#include "uplink/payloads.hpp"
#include "uplink/uplink_engine.hpp"

namespace fogbridge {
namespace {

constexpr double coverage_delay_s = 10;        // a filtered-only tail is reported after this long
constexpr std::size_t gap_batch_records = 32;  // gap records wait for this many, or max_delay
constexpr std::size_t gap_lease_records = 100;

bool same_turn(const std::optional<mono_time>& at, const instant& now) {
    return at && *at == now.mono;
}

}  // namespace

std::optional<uplink_action> uplink_engine::pump(const instant& now, const queue_stats& stats) {
    if (same_turn(publish_blocked_at_, now) || in_flight_.size() >= window()) return std::nullopt;
    if (draining_) return pump_urgent(false);
    if (auto a = pump_urgent(batches_wait(now, stats))) return a;
    // Gap records go before batches: the cloud should learn of a drop as soon as it happens.
    if (auto a = pump_gaps(now, stats)) return a;
    if (auto a = pump_resend(now)) return a;
    // A window of one has no slot to keep for the backlog: the lanes take turns when both wait.
    if (window() == 1 && backlog_turn_) {
        if (auto a = pump_backlog(now, stats)) return a;
        return pump_live(now, stats);
    }
    if (auto a = pump_live(now, stats)) return a;
    return pump_backlog(now, stats);
}

// Batches are ready to go now (leased already, or due in a lane).
bool uplink_engine::batches_wait(const instant& now, const queue_stats& stats) {
    if (!resend_.empty()) return true;
    if (!refused_.empty() && refused_.front().not_before <= now.mono) return true;
    return stats.backlog_readings > 0 || live_due(now, stats);
}

// Alerts and reports never starve batches: while batches wait they may hold all slots of the
// window but one, and with a window of one they take turns with batches.
std::optional<uplink_action> uplink_engine::pump_urgent(bool batches_waiting) {
    if (urgent_.empty()) return std::nullopt;
    if (batches_waiting) {
        const std::size_t w = window();
        if (w == 1 ? urgent_last_ : urgent_in_flight_ + 1 >= w) return std::nullopt;
    }
    auto m = urgent_.pop();
    // A broker without retained messages refuses a retained publish: it goes unretained.
    publish_action p{.topic = m->topic,
                     .payload = m->payload,
                     .retain = may_retain(m->retain),
                     .kind = publish_kind::urgent,
                     .batch_id = {}};
    awaited_ = awaited{publish_kind::urgent, {}, {}, std::move(m), 0};
    return p;
}

std::optional<uplink_action> uplink_engine::pump_gaps(const instant& now,
                                                      const queue_stats& stats) {
    if (!resend_gaps_.empty()) {
        gap_lease g = std::move(resend_gaps_.front());
        resend_gaps_.pop_front();
        publish_action p{.topic = topic(upstream_stream::gaps),
                         .payload = encode_gap_records(settings_.gateway_id, g),
                         .kind = publish_kind::gaps,
                         .batch_id = {}};
        awaited_ = awaited{publish_kind::gaps, {}, std::move(g), {}, 0};
        return p;
    }
    if (stats.gap_records == 0 || same_turn(gaps_empty_at_, now)) {
        gap_age_.stamp.reset();
        return std::nullopt;
    }
    const bool due = stats.gap_records >= gap_batch_records ||
                     age_of(stats.oldest_gap, gap_age_, now) >= settings_.batch.max_delay;
    if (!due) return std::nullopt;
    leasing_ = std::nullopt;
    return lease_gaps_action{gap_lease_records, now.wall};
}

// Batches leased already go first, with their ids; refused ones after their pause.
std::optional<uplink_action> uplink_engine::pump_resend(const instant& now) {
    if (!refused_.empty() && refused_.front().not_before <= now.mono) {
        resend_.push_back(std::move(refused_.front().batch));
        refused_.pop_front();
    }
    if (resend_.empty()) return std::nullopt;
    lease l = std::move(resend_.front());
    resend_.pop_front();
    return publish_batch(std::move(l));
}

publish_action uplink_engine::publish_batch(lease l) {
    auto payload =
        encode_batch_payload(settings_.cloud, settings_.batch.layout, settings_.gateway_id, l);
    auto to = topic(upstream_stream::batch);
    // Azure IoT Hub keeps no MQTT 5 properties: batch id and content type ride in the topic.
    if (settings_.cloud.url_encoded_topics) {
        to = with_property_bag(
            to, azure_property_bag(
                    {.batch_id = l.batch_id,
                     .content_type = "application/json",
                     .content_encoding = payload.encoding == compression::zstd ? "zstd" : ""}));
    }
    publish_action p{.topic = std::move(to),
                     .payload = std::move(payload.bytes),
                     .encoding = payload.encoding,
                     .kind = publish_kind::batch,
                     .batch_id = l.batch_id};
    awaited_ = awaited{publish_kind::batch, std::move(l), {}, {}, p.payload.size()};
    return p;
}

bool uplink_engine::live_due(const instant& now, const queue_stats& stats) {
    const std::size_t live = stats.pending_readings - stats.backlog_readings;
    const std::size_t live_bytes =
        stats.pending_bytes - std::min(stats.pending_bytes, stats.backlog_bytes);
    if (live == 0 || !stats.oldest_live) live_age_.stamp.reset();
    const auto age = stats.oldest_live
                         ? std::optional<double>(age_of(stats.oldest_live, live_age_, now))
                         : std::nullopt;
    // The delay trigger on the monotonic age: batch_due(age since 0, at "now" = age).
    const pending_batch pending{.readings = live,
                                .bytes = live_bytes,
                                .oldest = age ? std::optional<double>(0.0) : std::nullopt};
    return batch_due(pending, age.value_or(0), settings_.batch);
}

// Live batches first, when due; a share of the window stays free for the backlog.
std::optional<uplink_action> uplink_engine::pump_live(const instant& now,
                                                      const queue_stats& stats) {
    if (in_flight_.size() >= live_window(window(), stats.backlog_readings > 0)) return std::nullopt;
    if (same_turn(live_empty_at_, now)) return std::nullopt;
    bool due = live_due(now, stats);
    if (!due && stats.pending_readings == 0 && stats.uncovered) {
        if (!coverage_since_) coverage_since_ = now.mono;
        due = now.mono - *coverage_since_ >= mono_seconds(coverage_delay_s);
    }
    if (!due) return std::nullopt;
    coverage_since_.reset();
    leasing_ = lease_lane::live;
    return lease_batch_action{settings_.batch.max_readings, max_batch_bytes(), now.wall,
                              lease_lane::live};
}

// The backlog at its pace, in whatever room the live batches left.
std::optional<uplink_action> uplink_engine::pump_backlog(const instant& now,
                                                         const queue_stats& stats) {
    if (stats.backlog_readings == 0 || same_turn(backlog_empty_at_, now)) return std::nullopt;
    const std::size_t allowed = pacer_.allowance(to_seconds(now.mono.time_since_epoch()));
    if (allowed == 0) return std::nullopt;
    leasing_ = lease_lane::backlog;
    return lease_batch_action{std::min(allowed, settings_.batch.max_readings), max_batch_bytes(),
                              now.wall, lease_lane::backlog};
}

void uplink_engine::on_batch_leased(std::optional<lease> l, const instant& now) {
    const auto lane = leasing_.value_or(lease_lane::live);
    if (!l) {
        (lane == lease_lane::backlog ? backlog_empty_at_ : live_empty_at_) = now.mono;
        return;
    }
    if (lane == lease_lane::backlog) pacer_.spend(l->readings.size());
    resend_.push_front(std::move(*l));  // leased: it goes out on this session, next
}

void uplink_engine::on_gaps_leased(std::optional<gap_lease> g, const instant& now) {
    if (!g) {
        gaps_empty_at_ = now.mono;
        return;
    }
    resend_gaps_.push_front(std::move(*g));
}

// A stored wall timestamp's age on the monotonic clock: measured on the wall clock once, when
// first seen (at most max_delay, never negative), then counted on the monotonic clock, so a wall
// step neither holds a batch back nor makes one early by more than max_delay.
double uplink_engine::age_of(std::optional<double> stamp, age_anchor& anchor,
                             const instant& now) const {
    if (!stamp) {
        anchor.stamp.reset();
        return 0;
    }
    if (anchor.stamp != stamp) {
        anchor.stamp = stamp;
        const double wall_age = std::clamp(now.wall - *stamp, 0.0, settings_.batch.max_delay);
        anchor.seen = now.mono - mono_seconds(wall_age);
    }
    return to_seconds(now.mono - anchor.seen);
}

}  // namespace fogbridge
