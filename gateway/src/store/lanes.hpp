// Which stored readings are leased, and which pending ones are backlog or live (the two lanes of
// store::lease_batch). Pure bookkeeping over reading ids; not thread-safe (the store's lock).
#pragma once

#include <cstdint>
#include <vector>

namespace fogbridge {

// Reading ids first..last (inclusive) of one leased batch.
struct id_range {
    std::int64_t first = 0;
    std::int64_t last = 0;

    bool operator==(const id_range&) const = default;
};

// Reading ids lo < id <= hi.
struct id_span {
    std::int64_t lo = 0;
    std::int64_t hi = 0;
};

// A reading is pending when its id is above leased_upto and in no leased batch. Pending readings
// with id <= backlog_end are the backlog, the others are live. leased_upto == backlog_end means
// there is no backlog (one lane).
struct lane_marks {
    std::int64_t leased_upto = 0;  // every id <= leased_upto is leased or gone (meta.leased_upto)
    std::int64_t backlog_end = 0;  // meta.backlog_end
    std::vector<id_range> leased;  // the id ranges of the leased batches; ascending, disjoint

    bool pending(std::int64_t id) const;
    // The spans inside `within` (above leased_upto) that hold no leased id, ascending. Every
    // pending reading in (within.lo, within.hi] lies in one of them; a span may hold none.
    std::vector<id_span> pending_spans(id_span within) const;
    void add(id_range r);  // a new leased batch (empty ranges are ignored)
    void remove(id_range r);
};

}  // namespace fogbridge
