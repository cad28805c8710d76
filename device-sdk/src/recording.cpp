#include "fogbridge/recording.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <string>

#include "recording_formats.hpp"
#include "text.hpp"

namespace fogbridge {
namespace {

std::string_view without_bom(std::string_view text) {
    if (text.substr(0, 3) == "\xEF\xBB\xBF") {
        text.remove_prefix(3);
    }
    return text;
}

std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

// "Z", "+01:00", "-0530", "+02"; nullopt when malformed. Seconds east of UTC.
std::optional<double> zone_offset(std::string_view zone) {
    if (zone.empty() || zone == "Z" || zone == "z") {
        return 0.0;
    }
    if (zone.front() != '+' && zone.front() != '-') {
        return std::nullopt;
    }
    const double sign = zone.front() == '-' ? -1.0 : 1.0;
    zone.remove_prefix(1);
    std::string_view hh = zone.substr(0, 2);
    std::string_view mm = zone.size() > 2 ? zone.substr(2) : std::string_view("00");
    if (!mm.empty() && mm.front() == ':') {
        mm.remove_prefix(1);
    }
    const auto h = detail::parse_fixed_int(hh, 2);
    const auto m = detail::parse_fixed_int(mm, 2);
    if (!h || !m || *h > 23 || *m > 59) {
        return std::nullopt;
    }
    return sign * (*h * 3600.0 + *m * 60.0);
}

std::optional<double> parse_iso(std::string_view text) {
    const auto year = detail::parse_fixed_int(text.substr(0, 4), 4);
    const auto month = detail::parse_fixed_int(text.substr(5, 2), 2);
    const auto day = detail::parse_fixed_int(text.substr(8, 2), 2);
    if (!year || !month || !day) {
        return std::nullopt;
    }
    std::string_view rest = text.substr(10);
    if (rest.empty()) {
        return detail::civil_to_epoch({.year = *year, .month = *month, .day = *day});
    }
    if (rest.size() < 6 || (rest[0] != 'T' && rest[0] != 't' && rest[0] != ' ') || rest[3] != ':') {
        return std::nullopt;
    }
    const auto hour = detail::parse_fixed_int(rest.substr(1, 2), 2);
    const auto minute = detail::parse_fixed_int(rest.substr(4, 2), 2);
    if (!hour || !minute) {
        return std::nullopt;
    }
    rest.remove_prefix(6);
    double second = 0.0;
    if (!rest.empty() && rest.front() == ':') {
        const auto whole = detail::parse_fixed_int(rest.substr(1, 2), 2);
        if (!whole) {
            return std::nullopt;
        }
        second = *whole;
        rest.remove_prefix(3);
        if (!rest.empty() && rest.front() == '.') {
            const auto digits = std::min(rest.find_first_not_of("0123456789", 1), rest.size());
            const auto fraction = detail::parse_number("0" + std::string(rest.substr(0, digits)));
            if (digits == 1 || !fraction) {
                return std::nullopt;
            }
            second += *fraction;
            rest.remove_prefix(digits);
        }
    }
    const auto offset = zone_offset(rest);
    const auto local = detail::civil_to_epoch({.year = *year,
                                               .month = *month,
                                               .day = *day,
                                               .hour = *hour,
                                               .minute = *minute,
                                               .second = second});
    if (!offset || !local) {
        return std::nullopt;
    }
    return *local - *offset;
}

}  // namespace

std::string_view to_string(recording_format format) {
    switch (format) {
        case recording_format::automatic:
            return "auto";
        case recording_format::occupancy:
            return "occupancy";
        case recording_format::airquality:
            return "airquality";
        case recording_format::csv:
            return "csv";
    }
    return "unknown";
}

std::optional<recording_format> parse_recording_format(std::string_view name) {
    for (const auto f : {recording_format::automatic, recording_format::occupancy,
                         recording_format::airquality, recording_format::csv}) {
        if (lower(name) == to_string(f)) {
            return f;
        }
    }
    return std::nullopt;
}

const channel* recording::find(std::string_view name) const {
    const auto it = std::find_if(channels.begin(), channels.end(),
                                 [name](const channel& c) { return c.name == name; });
    return it == channels.end() ? nullptr : &*it;
}

std::size_t recording::missing() const {
    std::size_t total = 0;
    for (const auto& c : channels) {
        total += c.missing;
    }
    return total;
}

recording_format detect_recording_format(std::string_view text) {
    detail::line_reader lines(without_bom(text));
    std::string_view header;
    while (lines.next(header) && detail::trim(header).empty()) {
    }
    if (lower(header.substr(0, 10)) == "date;time;") {
        return recording_format::airquality;
    }
    const auto names = detail::split(header, ',');
    if (lower(detail::unquote(names[0])) == "date") {
        std::string_view row;
        while (lines.next(row) && detail::trim(row).empty()) {
        }
        if (detail::split(row, ',').size() == names.size() + 1) {
            return recording_format::occupancy;
        }
    }
    return recording_format::csv;
}

recording parse_recording(std::string_view text, recording_format format,
                          std::string_view csv_channel) {
    text = without_bom(text);
    if (format == recording_format::automatic) {
        format = detect_recording_format(text);
    }
    switch (format) {
        case recording_format::occupancy:
            return detail::parse_occupancy(text);
        case recording_format::airquality:
            return detail::parse_airquality(text);
        case recording_format::csv:
        case recording_format::automatic:
            break;
    }
    return detail::parse_csv(text,
                             {.default_channel = csv_channel.empty() ? "value" : csv_channel});
}

recording read_recording(const std::filesystem::path& file, recording_format format) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        recording rec;
        rec.format = format;
        rec.error_count = 1;
        rec.errors.push_back(parse_error{0, "cannot read " + file.string()});
        return rec;
    }
    std::ostringstream content;
    content << in.rdbuf();
    return parse_recording(content.str(), format, to_lower_snake(file.stem().string()));
}

std::optional<double> parse_utc_time(std::string_view text) {
    text = detail::unquote(text);
    if (text.size() >= 10 && text[4] == '-' && text[7] == '-') {
        return parse_iso(text);
    }
    return detail::parse_number(text);
}

std::string to_lower_snake(std::string_view name) {
    std::string out;
    bool pending_separator = false;
    char previous = '\0';
    for (const char c : name) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) == 0) {
            pending_separator = !out.empty();
            previous = c;
            continue;
        }
        // camelCase boundary: an upper-case letter right after a lower-case one.
        const bool boundary =
            std::isupper(u) != 0 && std::islower(static_cast<unsigned char>(previous)) != 0;
        if ((pending_separator || boundary) && !out.empty()) {
            out += '_';
        }
        pending_separator = false;
        out += static_cast<char>(std::tolower(u));
        previous = c;
    }
    return out;
}

std::vector<recording_event> merge_channels(const recording& rec) {
    std::vector<recording_event> events;
    std::size_t total = 0;
    for (const auto& c : rec.channels) {
        total += c.samples.size();
    }
    events.reserve(total);
    for (std::size_t i = 0; i < rec.channels.size(); ++i) {
        for (const auto& s : rec.channels[i].samples) {
            events.push_back(recording_event{s.ts, i, s.value});
        }
    }
    std::stable_sort(
        events.begin(), events.end(),
        [](const recording_event& a, const recording_event& b) { return a.ts < b.ts; });
    return events;
}

}  // namespace fogbridge
