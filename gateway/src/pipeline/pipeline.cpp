#include "pipeline/pipeline.hpp"

#include <fmt/format.h>

#include <chrono>
#include <random>
#include <system_error>

#include "batch/batch.hpp"
#include "common/clock.hpp"
#include "common/log.hpp"
#include "common/this_thread.hpp"

namespace fogbridge {
namespace {

// Wall time for what is stored or compared with stored timestamps; timers use mono_clock.
double wall_now() { return system_clock().now().wall; }

// Appends a later group's result to an earlier one, so both commit in one transaction. Filter
// states and progress are applied in order by the store; acks are kept in order (a later ack for
// the same series only moves its mark forward).
void absorb(group_result& into, group_result& from) {
    auto append = [](auto& to, auto& src) {
        to.insert(to.end(), std::make_move_iterator(src.begin()),
                  std::make_move_iterator(src.end()));
    };
    append(into.commit.readings, from.commit.readings);
    append(into.commit.progress, from.commit.progress);
    append(into.commit.filter_states, from.commit.filter_states);
    append(into.commit.lost, from.commit.lost);
    into.commit.now = from.commit.now;
    append(into.local, from.local);
    append(into.upstream, from.upstream);
    append(into.acks, from.acks);
}

}  // namespace

pipeline::pipeline(pipeline_settings settings, processor& proc, store& queue, local_link& local,
                   uplink& up)
    : settings_(settings),
      proc_(proc),
      store_(queue),
      local_(local),
      uplink_(up),
      queue_(static_cast<std::size_t>(settings.queue_capacity)),
      processed_(2) {}

pipeline::~pipeline() { stop(); }

void pipeline::start() {
    commit_thread_ = std::thread([this] { run_commits(); });
    thread_ = std::thread([this] { run(); });
}

void pipeline::stop() {
    queue_.close();
    if (thread_.joinable()) thread_.join();
    // Everything taken from ingest is processed; the commit thread stores it, then ends.
    processed_.close();
    if (commit_thread_.joinable()) commit_thread_.join();
}

void pipeline::reload_filter(filter_settings settings) {
    const std::lock_guard lock(mutex_);
    pending_rules_ = std::move(settings);
}

pipeline_snapshot pipeline::snapshot() const {
    const std::lock_guard lock(mutex_);
    auto s = snapshot_;
    s.queued = queue_.size();
    return s;
}

void pipeline::run() {
    name_this_thread("fb-pipeline");
    run_as_batch_work();
    using clock = std::chrono::steady_clock;
    const auto max_group = static_cast<std::size_t>(settings_.max_group);
    const auto group_delay = std::chrono::duration_cast<clock::duration>(
        std::chrono::duration<double>(settings_.max_group_delay));
    std::vector<inbound_message> group;
    auto next_flush = clock::now() + std::chrono::seconds(1);
    for (;;) {
        if (clock::now() >= next_flush) {
            next_flush = clock::now() + std::chrono::seconds(1);
            flush_idle();
        }
        group.clear();
        queue_.pop_some(group, max_group, std::chrono::milliseconds(100));
        if (group.empty()) {
            if (queue_.closed()) break;
            continue;
        }
        // Group commit: gather what arrives within the delay, so one fsync covers many readings.
        if (group.size() < max_group) {
            queue_.wait_for_size(max_group - group.size(), clock::now() + group_delay);
            queue_.pop_some(group, max_group - group.size(), std::chrono::milliseconds(0));
        }
        process_group(group);
    }
}

void pipeline::process_group(std::vector<inbound_message>& group) {
    {
        const std::lock_guard lock(mutex_);
        if (pending_rules_) {
            proc_.reload_filter(std::move(*pending_rules_));
            pending_rules_.reset();
            log::info("filter rules reloaded");
        }
    }
    auto result = proc_.process(group, wall_now());
    take_counters();
    // Blocks while two results wait: backpressure onto the ingest queue.
    processed_.push(std::move(result));
}

void pipeline::take_counters() {
    const std::lock_guard lock(mutex_);
    snapshot_.counters = proc_.counters();
    snapshot_.filter = proc_.filter().counters();
}

void pipeline::flush_idle() {
    auto result = proc_.flush_idle(wall_now());
    if (result.commit.readings.empty() && result.commit.filter_states.empty()) return;
    take_counters();
    processed_.push(std::move(result));
}

void pipeline::run_commits() {
    name_this_thread("fb-commit");
    run_as_batch_work();
    std::vector<group_result> waiting;
    for (;;) {
        store_housekeeping();
        waiting.clear();
        processed_.pop_some(waiting, 4, std::chrono::milliseconds(100));
        if (waiting.empty()) {
            if (processed_.closed()) break;
            continue;
        }
        for (std::size_t i = 1; i < waiting.size(); ++i) absorb(waiting.front(), waiting[i]);
        // A group that could not be stored ends the commits: a later group's acks and progress
        // marks would cover its readings, and the devices would forget them.
        if (!finish(waiting.front())) {
            processed_.close();  // so the pipeline thread never waits on a full handoff
            break;
        }
    }
}

bool pipeline::finish(group_result& result) {
    // Tokens start at random so a token of an earlier run never matches; never 0.
    static thread_local std::uint64_t next_token =
        (std::random_device{}() | (std::uint64_t{std::random_device{}()} << 32)) >> 2 | 1;
    result.commit.token = next_token++;
    if (!commit_with_retry(result.commit)) return false;
    // Only now, with the transaction durable, may devices forget these readings.
    for (const auto& [device, boot, seq] : result.acks) {
        local_.publish(fmt::format("devices/{}/ack", device), encode_ack(boot, seq),
                       {.qos = qos::at_least_once, .retain = retain::yes});
    }
    for (const auto& m : result.local) {
        local_.publish(m.topic, m.payload, {.qos = qos::at_most_once});
    }
    for (auto& m : result.upstream) {
        uplink_.send_urgent(m.stream, std::move(m.payload), m.retain, m.kind, std::move(m.source));
    }
    if (!result.commit.readings.empty()) uplink_.wake();
    return true;
}

void pipeline::store_housekeeping() {
    using clock = std::chrono::steady_clock;
    const auto now = clock::now();
    if (now >= next_expire_) {
        next_expire_ = now + std::chrono::seconds(1);
        try {
            if (store_.expire(wall_now()) > 0) uplink_.wake();
        } catch (const std::exception& e) {
            log::write_limited(log::level::error, "store-expire", std::chrono::seconds(60),
                               fmt::format("store: expiry failed: {}", e.what()));
        }
    }
    if (now >= next_prune_) {
        next_prune_ = now + std::chrono::minutes(1);
        try {
            if (const auto n = store_.prune_idle(wall_now()); n > 0) {
                log::debug("store: forgot the progress of {} idle device boots", n);
            }
        } catch (const std::exception& e) {
            log::write_limited(log::level::error, "store-prune", std::chrono::seconds(600),
                               fmt::format("store: pruning progress failed: {}", e.what()));
        }
    }
}

bool pipeline::commit_with_retry(const commit_set& c) {
    auto delay = std::chrono::milliseconds(100);
    for (;;) {
        try {
            const auto r = store_.commit(c);
            note_store_ok();
            const std::lock_guard lock(mutex_);
            ++snapshot_.commits;
            snapshot_.stored += r.inserted;
            snapshot_.store_duplicates += r.duplicates;
            return true;
        } catch (const std::exception& e) {
            // Nothing was acknowledged: the devices still hold these readings. Keep trying (the
            // store reopens its file after an I/O error) until the disk takes writes again.
            note_store_failure(e);
            if (queue_.closed()) return false;
            std::this_thread::sleep_for(delay);
            delay = std::min(delay * 2, std::chrono::milliseconds(5000));
        }
    }
}

void pipeline::note_store_failure(const std::exception& e) {
    const auto* se = dynamic_cast<const std::system_error*>(&e);
    const char* kind = "error";
    if (se != nullptr && se->code() == store_errc::full) kind = "full";
    if (se != nullptr && se->code() == store_errc::io) kind = "io";
    const std::lock_guard lock(mutex_);
    ++snapshot_.commit_failures;
    snapshot_.store_last_error = {
        .code = se != nullptr ? se->code() : make_error_code(store_errc::internal),
        .text = e.what()};
    if (snapshot_.store_failing == kind) return;
    // One line when writing stops (or fails for another reason), one when it resumes.
    log::error(
        "store: cannot write ({}): {}; devices are not acknowledged until it can (they keep "
        "their readings), what the store holds is still forwarded",
        kind, e.what());
    if (snapshot_.store_failing.empty()) {
        snapshot_.store_failing_since = wall_now();  // a timestamp in health
        store_failing_at_ = system_clock().now().mono;
    }
    snapshot_.store_failing = kind;
}

void pipeline::note_store_ok() {
    const std::lock_guard lock(mutex_);
    if (snapshot_.store_failing.empty()) return;
    log::info("store: writing again after {:.1f} s; acknowledging devices",
              to_seconds(system_clock().now().mono - store_failing_at_));
    snapshot_.store_failing.clear();
    snapshot_.store_failing_since = 0;
}

}  // namespace fogbridge
