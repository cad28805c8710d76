// The store's public operations other than commit, leases and gaps: progress and filter state,
// the backlog, leased batches and their acknowledgements, stats. Thread-safe: each holds the
// store's mutex.
#include "store/store.hpp"

#include <algorithm>

#include "store/ranges_json.hpp"
#include "store/store_impl.hpp"

namespace fogbridge {
namespace {

auto as_uint(std::int64_t v) { return static_cast<std::uint64_t>(v); }
auto as_size(std::int64_t v) { return static_cast<std::size_t>(v); }

}  // namespace

std::vector<progress_update> store::load_progress() {
    const std::scoped_lock lock(impl_->mutex);
    sqlite::statement& s = impl_->st.all_progress;
    const sqlite::reset_on_exit guard(s);
    std::vector<progress_update> out;
    while (s.step()) {
        out.push_back(
            {std::string(s.column_text(0)), as_uint(s.column_int(1)), as_uint(s.column_int(2))});
    }
    return out;
}

std::vector<filter_state_row> store::load_filter_states() {
    const std::scoped_lock lock(impl_->mutex);
    sqlite::statement& s = impl_->st.all_filter_states;
    const sqlite::reset_on_exit guard(s);
    std::vector<filter_state_row> out;
    while (s.step()) {
        out.push_back({std::string(s.column_text(0)), std::string(s.column_text(1)),
                       std::string(s.column_text(2))});
    }
    return out;
}

std::optional<lease> store::lease_batch_unguarded(std::size_t max_readings, std::size_t max_bytes,
                                                  double now, lease_lane lane) {
    const std::scoped_lock lock(impl_->mutex);
    return impl_->lease_batch(max_readings, max_bytes, lane, now);
}

std::size_t store::start_backlog_unguarded() {
    const std::scoped_lock lock(impl_->mutex);
    return impl_->start_backlog();
}

std::size_t store::impl::start_backlog() {
    queue_stats& c = counters;
    if (c.pending_readings == c.backlog_readings) {
        return c.backlog_readings;  // nothing live
    }
    // Every id ever used is at most next_id - 1, and everything above backlog_end is live.
    const std::int64_t end = next_id - 1;
    {
        sqlite::transaction tx = begin();
        const sqlite::reset_on_exit guard(st.set_backlog_end);
        st.set_backlog_end.bind_int(1, end);
        st.set_backlog_end.run();
        tx.commit();
    }
    lanes.backlog_end = end;
    c.backlog_readings = c.pending_readings;
    c.backlog_bytes = c.pending_bytes;
    c.oldest_live.reset();
    return c.backlog_readings;
}

std::vector<lease> store::leased_batches() {
    const std::scoped_lock lock(impl_->mutex);
    statements& st = impl_->st;
    const sqlite::reset_on_exit guard(st.all_batches);
    std::vector<lease> out;
    while (st.all_batches.step()) {
        lease l;
        l.batch_id = st.all_batches.column_text(1);
        l.created = st.all_batches.column_double(2);
        l.ranges = decode_ranges(st.all_batches.column_text(5));
        l.replay = st.all_batches.column_int(6) != 0;
        const sqlite::reset_on_exit readings_guard(st.batch_readings);
        st.batch_readings.bind_int(1, st.all_batches.column_int(3));
        st.batch_readings.bind_int(2, st.all_batches.column_int(4));
        while (st.batch_readings.step()) {
            stored_reading sr;
            sr.r.device = impl_->devices.name(st.batch_readings.column_int(0));
            sr.r.boot = as_uint(st.batch_readings.column_int(1));
            sr.r.seq = as_uint(st.batch_readings.column_int(2));
            sr.r.sensor = st.batch_readings.column_text(3);
            sr.r.value = st.batch_readings.column_double(4);
            sr.r.unit = st.batch_readings.column_text(5);
            sr.r.ts = st.batch_readings.column_double(6);
            sr.enqueued = st.batch_readings.column_double(7);
            sr.r.ts_from_gateway = st.batch_readings.column_int(8) != 0;
            l.readings.push_back(std::move(sr));
        }
        out.push_back(std::move(l));
    }
    return out;
}

std::optional<acked_batch> store::impl::delete_batch(const std::string& batch_id) {
    acked_batch out;
    std::int64_t ord = 0;
    {
        const sqlite::reset_on_exit guard(st.find_batch);
        st.find_batch.bind_text(1, batch_id);
        if (!st.find_batch.step()) {
            return std::nullopt;
        }
        ord = st.find_batch.column_int(0);
        out.ids = {st.find_batch.column_int(1), st.find_batch.column_int(2)};
        out.bytes = as_size(st.find_batch.column_int(3));
    }
    {
        const sqlite::reset_on_exit guard(st.held_in_ids);
        st.held_in_ids.bind_int(1, out.ids.first);
        st.held_in_ids.bind_int(2, out.ids.last);
        while (st.held_in_ids.step()) {
            add_held(out.by_device, st.held_in_ids.column_int(0),
                     {.rows = as_uint(st.held_in_ids.column_int(1)),
                      .bytes = static_cast<std::uint64_t>(st.held_in_ids.column_double(2))});
        }
    }
    {
        const sqlite::reset_on_exit guard(st.delete_batch_readings);
        st.delete_batch_readings.bind_int(1, out.ids.first);
        st.delete_batch_readings.bind_int(2, out.ids.last);
        st.delete_batch_readings.run();
        out.readings = as_size(db.changes());
    }
    const sqlite::reset_on_exit guard(st.delete_batch);
    st.delete_batch.bind_int(1, ord);
    st.delete_batch.run();
    return out;
}

bool store::ack_batch(const std::string& batch_id) { return ack_batches({batch_id}) == 1; }

std::size_t store::ack_batches_unguarded(const std::vector<std::string>& batch_ids) {
    const std::scoped_lock lock(impl_->mutex);
    impl& m = *impl_;
    std::vector<acked_batch> acked;
    {
        // Relaxed: an acknowledgement lost to a power loss only re-sends a batch the cloud has,
        // with the same batch_id and readings; the next lease or commit makes it durable.
        sqlite::transaction tx = m.begin(durability::relaxed);
        for (const std::string& id : batch_ids) {
            if (auto a = m.delete_batch(id)) {
                acked.push_back(*a);
            }
        }
        if (acked.empty()) {
            return 0;
        }
        tx.commit();
    }
    queue_stats& c = m.counters;
    for (const acked_batch& a : acked) {
        m.lanes.remove(a.ids);
        c.leased_batches -= 1;
        c.leased_readings -= a.readings;
        c.leased_bytes -= std::min(c.leased_bytes, a.bytes);
        remove_held(m.held, a.by_device);
    }
    try {
        m.refresh_oldest();
    } catch (const store_error&) {  // NOLINT(bugprone-empty-catch): the ack itself is done;
    }                               // the figure is refreshed again by the next ack
    return acked.size();
}

queue_stats store::stats() {
    const std::scoped_lock lock(impl_->mutex);
    queue_stats out = impl_->counters;
    out.uncovered = !impl_->uncovered.empty();
    out.held_readings = out.pending_readings + out.leased_readings;
    out.held_bytes = out.pending_bytes + out.leased_bytes;
    return out;
}

std::string store::epoch() {
    const std::scoped_lock lock(impl_->mutex);
    return impl_->epoch;
}

}  // namespace fogbridge
