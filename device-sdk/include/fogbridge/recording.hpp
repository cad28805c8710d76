// Parsers for recorded sensor data: UCI Occupancy, UCI Air Quality and plain time,value CSV.
// Pure and thread-safe; bad rows are reported as values (line and reason), never thrown.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fogbridge {

enum class recording_format {
    automatic,   // detect from the first lines
    occupancy,   // UCI Occupancy Detection (datatraining.txt, ...)
    airquality,  // UCI Air Quality (AirQualityUCI.csv)
    csv,         // time,value[,value...] with an optional header
};

std::string_view to_string(recording_format format);
// "auto", "occupancy", "airquality", "csv".
std::optional<recording_format> parse_recording_format(std::string_view name);

struct sample {
    double ts = 0.0;  // seconds since the epoch, UTC
    double value = 0.0;

    bool operator==(const sample&) const = default;
};

struct channel {
    std::string name;  // lower_snake: temperature, humidity_ratio, co_gt, pt08_s1_co, ...
    std::string unit;  // empty when unknown or dimensionless
    std::vector<sample> samples;
    std::size_t missing = 0;  // empty fields (and -200 in Air Quality): not readings
};

struct parse_error {
    std::size_t line = 0;  // 1-based; 0 for the file as a whole
    std::string reason;
};

struct recording {
    recording_format format = recording_format::automatic;
    std::vector<channel> channels;
    std::size_t rows = 0;             // data rows with a valid time
    std::vector<parse_error> errors;  // the first max_kept_errors
    std::size_t error_count = 0;

    static constexpr std::size_t max_kept_errors = 100;

    const channel* find(std::string_view name) const;
    std::size_t missing() const;  // over all channels
};

// Looks at the first lines: "Date;Time;..." is Air Quality; a header starting with "date" whose
// first row has one field more than the header is Occupancy; anything else is CSV.
recording_format detect_recording_format(std::string_view text);

// Times without a zone are taken as UTC: the UCI files hold local time without a zone (Belgium
// for Occupancy, Italy for Air Quality), so their timestamps are shifted by the local offset
// but their spacing is exact. `csv_channel` names the value column of a CSV without a header.
recording parse_recording(std::string_view text,
                          recording_format format = recording_format::automatic,
                          std::string_view csv_channel = "value");

// Reads a file; a CSV without a header names its channel after the file (temperature.csv ->
// temperature). An unreadable file gives a recording with one error at line 0.
recording read_recording(const std::filesystem::path& file,
                         recording_format format = recording_format::automatic);

// Seconds since the epoch: a plain number, or ISO 8601 "YYYY-MM-DD[T ]HH:MM[:SS[.frac]]" with an
// optional "Z" or "+HH:MM"/"+HHMM"/"+HH" offset (none: UTC), or a date "YYYY-MM-DD".
std::optional<double> parse_utc_time(std::string_view text);

// "temperature", "HumidityRatio" -> "humidity_ratio", "PT08.S1(CO)" -> "pt08_s1_co".
std::string to_lower_snake(std::string_view name);

// One sample of one channel, for replaying a recording in time order.
struct recording_event {
    double ts = 0.0;
    std::size_t channel = 0;  // index into recording::channels
    double value = 0.0;

    bool operator==(const recording_event&) const = default;
};

// All samples of all channels ordered by time; equal times keep channel order.
std::vector<recording_event> merge_channels(const recording& rec);

}  // namespace fogbridge
