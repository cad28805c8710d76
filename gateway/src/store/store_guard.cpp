// The uplink's writes, tolerating a disk that refuses them. Thread-safe (the store's mutex).
#include "store/store_impl.hpp"

namespace fogbridge {
namespace {

bool disk_refused(const store_error& e) {
    return e.code() == store_errc::full || e.code() == store_errc::io ||
           e.code() == store_errc::busy;
}

}  // namespace

// A full or failing disk must not stop the uplink: what the store holds keeps going out when
// leasing still fits (the WAL reuses its pages), and an acknowledgement that cannot be written
// only re-sends its batch later, with the same batch_id. The transaction was rolled back, so the
// store's memory is unchanged.
template <typename T, typename F>
T store_tolerating(std::mutex& mutex, queue_stats& counters, T nothing, F&& write) {
    try {
        return write();
    } catch (const store_error& e) {
        if (!disk_refused(e)) {
            throw;
        }
        const std::scoped_lock lock(mutex);
        ++counters.uplink_write_failures;
        return nothing;
    }
}

std::optional<lease> store::lease_batch(std::size_t max_readings, std::size_t max_bytes, double now,
                                        lease_lane lane) {
    retry_unrecorded_acks();
    return store_tolerating(impl_->mutex, impl_->counters, std::optional<lease>{}, [&] {
        return lease_batch_unguarded(max_readings, max_bytes, now, lane);
    });
}

std::size_t store::start_backlog() {
    try {
        return start_backlog_unguarded();
    } catch (const store_error& e) {
        if (!disk_refused(e)) {
            throw;
        }
        const std::scoped_lock lock(impl_->mutex);
        ++impl_->counters.uplink_write_failures;
        return impl_->counters.backlog_readings;
    }
}

std::size_t store::ack_batches(const std::vector<std::string>& batch_ids) {
    retry_unrecorded_acks();
    const std::size_t n = store_tolerating(impl_->mutex, impl_->counters, std::size_t{0},
                                           [&] { return ack_batches_unguarded(batch_ids); });
    if (n == 0 && !batch_ids.empty()) {
        // Refused (or unknown ids): kept to record with a later ack or lease, so the batch does
        // not stay leased until the next reconnect. An unknown id is dropped at the retry.
        const std::scoped_lock lock(impl_->mutex);
        auto& later = impl_->unrecorded_acks;
        if (later.size() < 10000) later.insert(later.end(), batch_ids.begin(), batch_ids.end());
    }
    return n;
}

void store::retry_unrecorded_acks() {
    std::vector<std::string> ids;
    {
        const std::scoped_lock lock(impl_->mutex);
        ids.swap(impl_->unrecorded_acks);
    }
    if (ids.empty()) {
        return;
    }
    try {
        static_cast<void>(ack_batches_unguarded(ids));
    } catch (const store_error&) {
        const std::scoped_lock lock(impl_->mutex);
        impl_->unrecorded_acks.insert(impl_->unrecorded_acks.end(), ids.begin(), ids.end());
    }
}

std::optional<gap_lease> store::lease_gaps(std::size_t max_records, double now) {
    return store_tolerating(impl_->mutex, impl_->counters, std::optional<gap_lease>{}, [&] {
        return lease_gaps_unguarded({.max_records = max_records, .now = now});
    });
}

bool store::ack_gaps(const std::string& gap_id) {
    return store_tolerating(impl_->mutex, impl_->counters, false,
                            [&] { return ack_gaps_unguarded(gap_id); });
}

}  // namespace fogbridge
