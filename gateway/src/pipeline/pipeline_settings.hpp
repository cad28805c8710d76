// The pipeline's settings: the queue between ingest and the store, and group commits.
#pragma once

namespace fogbridge {

struct pipeline_settings {
    int queue_capacity = 50000;     // inbound messages held between ingest and the pipeline
    int max_group = 2000;           // readings per store transaction at most
    double max_group_delay = 0.02;  // seconds a reading may wait for its group commit
};

}  // namespace fogbridge
