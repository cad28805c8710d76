// The three recording parsers behind parse_recording(); thread-safe (no state).
#pragma once

#include <string>
#include <string_view>

#include "fogbridge/recording.hpp"

namespace fogbridge::detail {

// Collects channels and errors while a parser walks the text.
class recording_builder final {
  public:
    explicit recording_builder(recording_format format) { rec_.format = format; }

    std::size_t add_channel(std::string name, std::string unit);
    void add_sample(std::size_t channel, double ts, double value);
    void add_missing(std::size_t channel) { ++rec_.channels[channel].missing; }
    void add_row() { ++rec_.rows; }
    void error(std::size_t line, std::string reason);
    std::size_t channels() const { return rec_.channels.size(); }
    const std::string& channel_name(std::size_t channel) const {
        return rec_.channels[channel].name;
    }
    recording take() { return std::move(rec_); }

  private:
    recording rec_;
};

recording parse_occupancy(std::string_view text);
recording parse_airquality(std::string_view text);
struct csv_settings {
    std::string_view default_channel = "value";  // the name of a column without a header
};
recording parse_csv(std::string_view text, const csv_settings& settings);

// Text of a field for an error message: at most 40 characters.
std::string excerpt(std::string_view field);

}  // namespace fogbridge::detail
