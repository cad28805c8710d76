// The recording parsers on the real UCI files, when the shared data folder is there.
// Expected counts were computed once with awk, independently of the parser, e.g. for the
// air quality missing values:
//   tr -d '\r' < AirQualityUCI.csv | awk -F';' 'NR>1 && $1!="" {for(i=3;i<=15;i++)
//     {v=$i; gsub(",",".",v); if(v==""||v+0==-200) c[i]++}} END{...}'
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include "fogbridge/recording.hpp"

namespace fs = std::filesystem;
using fogbridge::recording_format;

namespace {

// FOGBRIDGE_DATA_DIR, else the repository's data/.
fs::path data_dir() {
    if (const char* env = std::getenv("FOGBRIDGE_DATA_DIR"); env != nullptr && *env != '\0') {
        return env;
    }
    return fs::path(FOGBRIDGE_SOURCE_DIR) / "data";
}

// The recordings ship with the repository: a missing one fails the test instead of skipping it.
bool available(const fs::path& file) {
    std::error_code ec;
    const bool found = fs::exists(file, ec);
    CHECK_MESSAGE(found, file.string() << " not found");
    return found;
}

void check_occupancy(const fs::path& file, std::size_t rows, std::size_t occupied) {
    if (!available(file)) {
        return;
    }
    const auto rec = fogbridge::read_recording(file);
    CHECK(rec.format == recording_format::occupancy);
    CHECK(rec.error_count == 0);
    CHECK(rec.rows == rows);
    CHECK(rec.channels.size() == 6);
    CHECK(rec.missing() == 0);
    for (const auto& c : rec.channels) {
        CHECK(c.samples.size() == rows);
    }
    std::size_t ones = 0;
    for (const auto& s : rec.find("occupancy")->samples) {
        ones += s.value == 1.0 ? 1 : 0;
    }
    CHECK(ones == occupied);
}

}  // namespace

TEST_CASE("recording data: occupancy datatraining.txt") {
    const auto file = data_dir() / "occupancy/datatraining.txt";
    check_occupancy(file, 8143, 1729);
    if (!available(file)) {
        return;
    }
    const auto rec = fogbridge::read_recording(file);
    const auto& t = rec.find("temperature")->samples;
    CHECK(t.front() == fogbridge::sample{1423072260.0, 23.18});  // 2015-02-04 17:51:00
    CHECK(t.back() == fogbridge::sample{1423560780.0, 21.1});    // 2015-02-10 09:33:00
    CHECK(rec.find("co2")->samples.back().value == 821.0);
}

TEST_CASE("recording data: occupancy datatest.txt and datatest2.txt (unquoted dates)") {
    check_occupancy(data_dir() / "occupancy/datatest.txt", 2665, 972);
    check_occupancy(data_dir() / "occupancy/datatest2.txt", 9752, 2049);
}

TEST_CASE("recording data: air quality rows and missing values per channel") {
    const auto file = data_dir() / "airquality/AirQualityUCI.csv";
    if (!available(file)) {
        return;
    }
    const auto rec = fogbridge::read_recording(file);
    CHECK(rec.format == recording_format::airquality);
    CHECK(rec.error_count == 0);
    CHECK(rec.rows == 9357);
    const std::map<std::string, std::size_t> missing{{"co_gt", 1683},
                                                     {"pt08_s1_co", 366},
                                                     {"nmhc_gt", 8443},
                                                     {"c6h6_gt", 366},
                                                     {"pt08_s2_nmhc", 366},
                                                     {"nox_gt", 1639},
                                                     {"pt08_s3_nox", 366},
                                                     {"no2_gt", 1642},
                                                     {"pt08_s4_no2", 366},
                                                     {"pt08_s5_o3", 366},
                                                     {"t", 366},
                                                     {"rh", 366},
                                                     {"ah", 366}};
    REQUIRE(rec.channels.size() == missing.size());
    for (const auto& c : rec.channels) {
        CAPTURE(c.name);
        REQUIRE(missing.count(c.name) == 1);
        CHECK(c.missing == missing.at(c.name));
        CHECK(c.samples.size() + c.missing == 9357);
    }
    CHECK(rec.missing() == 16701);
    const auto& co = rec.find("co_gt")->samples;
    CHECK(co.front() == fogbridge::sample{1078941600.0, 2.6});  // 10/03/2004 18.00.00
}
