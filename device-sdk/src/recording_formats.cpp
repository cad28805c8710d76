#include "recording_formats.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "text.hpp"

namespace fogbridge::detail {
namespace {

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

bool blank(std::string_view line, char delimiter) {
    return std::all_of(line.begin(), line.end(),
                       [delimiter](char c) { return c == delimiter || c == ' ' || c == '\t'; });
}

// The first line that is not blank; false when there is none.
bool first_line(line_reader& lines, std::string_view& line, char delimiter) {
    while (lines.next(line)) {
        if (!blank(line, delimiter)) {
            return true;
        }
    }
    return false;
}

struct unit_entry {
    std::string_view channel;
    std::string_view unit;
};

constexpr std::array<unit_entry, 5> occupancy_units{{{"temperature", "C"},
                                                     {"humidity", "%RH"},
                                                     {"light", "lx"},
                                                     {"co2", "ppm"},
                                                     {"humidity_ratio", "kg/kg"}}};

// PT08.* are raw sensor responses and AH has no unit in the source: none given.
constexpr std::array<unit_entry, 7> airquality_units{{{"co_gt", "mg/m3"},
                                                      {"nmhc_gt", "ug/m3"},
                                                      {"c6h6_gt", "ug/m3"},
                                                      {"no2_gt", "ug/m3"},
                                                      {"nox_gt", "ppb"},
                                                      {"t", "C"},
                                                      {"rh", "%RH"}}};

template <std::size_t N>
std::string unit_of(const std::array<unit_entry, N>& table, std::string_view channel) {
    const auto* it = std::find_if(table.begin(), table.end(),
                                  [channel](const unit_entry& e) { return e.channel == channel; });
    return it == table.end() ? std::string() : std::string(it->unit);
}

// A row's first two fields, DD/MM/YYYY and HH.MM.SS, taken as UTC.
std::optional<double> airquality_time(const std::vector<std::string_view>& fields) {
    const auto d = split(trim(fields[0]), '/');
    const auto t = split(trim(fields[1]), '.');
    if (d.size() != 3 || t.size() != 3) {
        return std::nullopt;
    }
    const auto day = parse_fixed_int(d[0], 2);
    const auto month = parse_fixed_int(d[1], 2);
    const auto year = parse_fixed_int(d[2], 4);
    const auto hour = parse_fixed_int(t[0], 2);
    const auto minute = parse_fixed_int(t[1], 2);
    const auto second = parse_fixed_int(t[2], 2);
    if (!day || !month || !year || !hour || !minute || !second) {
        return std::nullopt;
    }
    return civil_to_epoch({.year = *year,
                           .month = *month,
                           .day = *day,
                           .hour = *hour,
                           .minute = *minute,
                           .second = static_cast<double>(*second)});
}

// Parses one value field into `channel`: a sample, a missing value, or an error.
void take_value(recording_builder& b, std::size_t line, std::size_t channel, double ts,
                std::string_view field, bool decimal_comma, bool minus_200_missing) {
    const std::string_view text = unquote(field);
    if (text.empty()) {
        b.add_missing(channel);
        return;
    }
    const auto value = parse_number(text, decimal_comma);
    if (!value) {
        b.error(line, "bad value '" + excerpt(text) + "' for " + b.channel_name(channel));
        return;
    }
    if (minus_200_missing && *value == -200.0) {
        b.add_missing(channel);
        return;
    }
    b.add_sample(channel, ts, *value);
}

}  // namespace

std::size_t recording_builder::add_channel(std::string name, std::string unit) {
    rec_.channels.push_back(channel{std::move(name), std::move(unit), {}, 0});
    return rec_.channels.size() - 1;
}

void recording_builder::add_sample(std::size_t channel, double ts, double value) {
    rec_.channels[channel].samples.push_back(sample{ts, value});
}

void recording_builder::error(std::size_t line, std::string reason) {
    ++rec_.error_count;
    if (rec_.errors.size() < recording::max_kept_errors) {
        rec_.errors.push_back(parse_error{line, std::move(reason)});
    }
}

std::string excerpt(std::string_view field) { return std::string(field.substr(0, 40)); }

// Header of 7 quoted names; each row has 8 fields, a quoted row number first.
recording parse_occupancy(std::string_view text) {
    recording_builder b(recording_format::occupancy);
    line_reader lines(text);
    std::string_view line;
    if (!first_line(lines, line, ',')) {
        b.error(0, "no header line");
        return b.take();
    }
    const auto names = split(line, ',');
    if (!equals_ignoring_case(unquote(names[0]), "date") || names.size() < 2) {
        b.error(lines.line_number(), "expected a header \"date\",<channels...>");
        return b.take();
    }
    for (std::size_t i = 1; i < names.size(); ++i) {
        std::string name = to_lower_snake(unquote(names[i]));
        std::string unit = unit_of(occupancy_units, name);
        b.add_channel(std::move(name), std::move(unit));
    }
    while (lines.next(line)) {
        if (blank(line, ',')) {
            continue;
        }
        auto fields = split(line, ',');
        if (fields.size() == names.size() + 1) {
            fields.erase(fields.begin());  // the row number
        } else if (fields.size() != names.size()) {
            b.error(lines.line_number(), "expected " + std::to_string(names.size() + 1) +
                                             " fields, found " + std::to_string(fields.size()));
            continue;
        }
        const auto ts = parse_utc_time(fields[0]);
        if (!ts) {
            b.error(lines.line_number(), "bad time '" + excerpt(unquote(fields[0])) + "'");
            continue;
        }
        b.add_row();
        for (std::size_t c = 0; c < b.channels(); ++c) {
            take_value(b, lines.line_number(), c, *ts, fields[c + 1], false, false);
        }
    }
    return b.take();
}

// ';' separated, decimal comma, CRLF, DD/MM/YYYY;HH.MM.SS, two empty trailing columns, -200 for a
// missing value, and lines of only ';' at the end.
recording parse_airquality(std::string_view text) {
    recording_builder b(recording_format::airquality);
    line_reader lines(text);
    std::string_view line;
    if (!first_line(lines, line, ';')) {
        b.error(0, "no header line");
        return b.take();
    }
    auto names = split(line, ';');
    while (!names.empty() && trim(names.back()).empty()) {
        names.pop_back();
    }
    if (names.size() < 3 || !equals_ignoring_case(trim(names[0]), "date") ||
        !equals_ignoring_case(trim(names[1]), "time")) {
        b.error(lines.line_number(), "expected a header Date;Time;<channels...>");
        return b.take();
    }
    for (std::size_t i = 2; i < names.size(); ++i) {
        std::string name = to_lower_snake(trim(names[i]));
        std::string unit = unit_of(airquality_units, name);
        b.add_channel(std::move(name), std::move(unit));
    }
    while (lines.next(line)) {
        if (blank(line, ';')) {
            continue;
        }
        const auto fields = split(line, ';');
        if (fields.size() < names.size()) {
            b.error(lines.line_number(), "expected " + std::to_string(names.size()) +
                                             " fields, found " + std::to_string(fields.size()));
            continue;
        }
        const auto ts = airquality_time(fields);
        if (!ts) {
            b.error(lines.line_number(), "bad date/time '" + excerpt(trim(fields[0])) + ";" +
                                             excerpt(trim(fields[1])) + "'");
            continue;
        }
        b.add_row();
        for (std::size_t c = 0; c < b.channels(); ++c) {
            take_value(b, lines.line_number(), c, *ts, fields[c + 2], true, true);
        }
    }
    return b.take();
}

// time,value[,value...]: time as epoch seconds or ISO 8601; the header is optional.
recording parse_csv(std::string_view text, const csv_settings& settings) {
    recording_builder b(recording_format::csv);
    line_reader lines(text);
    std::string_view line;
    if (!first_line(lines, line, ',')) {
        b.error(0, "no data");
        return b.take();
    }
    const auto first = split(line, ',');
    const bool has_header = !parse_utc_time(first[0]).has_value();
    if (first.size() < 2) {
        b.error(lines.line_number(), "expected time,value");
        return b.take();
    }
    for (std::size_t i = 1; i < first.size(); ++i) {
        std::string name = has_header ? to_lower_snake(unquote(first[i])) : std::string();
        if (name.empty()) {
            name = std::string(settings.default_channel);
            if (i > 1) {
                name += "_" + std::to_string(i);
            }
        }
        b.add_channel(std::move(name), "");
    }
    const std::size_t width = first.size();
    bool pending_first_row = !has_header;
    while (pending_first_row || lines.next(line)) {
        pending_first_row = false;
        if (blank(line, ',')) {
            continue;
        }
        const auto fields = split(line, ',');
        if (fields.size() != width) {
            b.error(lines.line_number(), "expected " + std::to_string(width) + " fields, found " +
                                             std::to_string(fields.size()));
            continue;
        }
        const auto ts = parse_utc_time(fields[0]);
        if (!ts) {
            b.error(lines.line_number(), "bad time '" + excerpt(unquote(fields[0])) + "'");
            continue;
        }
        b.add_row();
        for (std::size_t c = 0; c < b.channels(); ++c) {
            take_value(b, lines.line_number(), c, *ts, fields[c + 1], false, false);
        }
    }
    return b.take();
}

}  // namespace fogbridge::detail
