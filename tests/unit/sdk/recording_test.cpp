// Recording parsers on small inline samples shaped exactly like the real files.
#include "fogbridge/recording.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using fogbridge::parse_recording;
using fogbridge::parse_utc_time;
using fogbridge::recording;
using fogbridge::recording_format;
using fogbridge::sample;

namespace {

std::vector<std::string> names(const recording& rec) {
    std::vector<std::string> out;
    for (const auto& c : rec.channels) {
        out.push_back(c.name);
    }
    return out;
}

// Header with 7 names, rows with 8 fields (a quoted row number first); datatest2 leaves the
// date unquoted.
const char* const occupancy_text =
    "\"date\",\"Temperature\",\"Humidity\",\"Light\",\"CO2\",\"HumidityRatio\",\"Occupancy\"\n"
    "\"1\",\"2015-02-04 17:51:00\",23.18,27.272,426,721.25,0.00479298817650529,1\n"
    "\"2\",\"2015-02-04 17:51:59\",23.15,27.2675,429.5,714,0.00478344094931065,1\n"
    "\"3\",2015-02-04 17:53:00,23.15,27.245,426,713.5,0.00477946352442199,0\n";

// ';' separated, decimal comma, CRLF, -200 and -200,0 for missing, two empty trailing columns,
// trailing lines of only ';'.
const char* const airquality_text =
    "Date;Time;CO(GT);PT08.S1(CO);NMHC(GT);C6H6(GT);PT08.S2(NMHC);NOx(GT);PT08.S3(NOx);NO2(GT);"
    "PT08.S4(NO2);PT08.S5(O3);T;RH;AH;;\r\n"
    "10/03/2004;18.00.00;2,6;1360;150;11,9;1046;166;1056;113;1692;1268;13,6;48,9;0,7578;;\r\n"
    "10/03/2004;19.00.00;2;1292;112;9,4;955;103;1174;92;1559;972;13,3;47,7;0,7255;;\r\n"
    "01/04/2004;14.00.00;1,7;-200;222;-200,0;-200;99;-200;72;-200;-200;-200;-200;-200;;\r\n"
    ";;;;;;;;;;;;;;;;\r\n"
    ";;;;;;;;;;;;;;;;\r\n";

}  // namespace

TEST_CASE("recording: occupancy rows, channels, units and times") {
    const auto rec = parse_recording(occupancy_text);
    CHECK(rec.format == recording_format::occupancy);
    CHECK(rec.error_count == 0);
    CHECK(rec.rows == 3);
    CHECK(names(rec) == std::vector<std::string>{"temperature", "humidity", "light", "co2",
                                                 "humidity_ratio", "occupancy"});
    const auto* t = rec.find("temperature");
    REQUIRE(t != nullptr);
    CHECK(t->unit == "C");
    CHECK(t->samples ==
          std::vector<sample>{{1423072260.0, 23.18}, {1423072319.0, 23.15}, {1423072380.0, 23.15}});
    CHECK(rec.find("humidity")->unit == "%RH");
    CHECK(rec.find("light")->unit == "lx");
    CHECK(rec.find("co2")->unit == "ppm");
    CHECK(rec.find("humidity_ratio")->unit == "kg/kg");
    CHECK(rec.find("humidity_ratio")->samples[0].value == 0.00479298817650529);
    const auto* occupancy = rec.find("occupancy");
    CHECK(occupancy->unit.empty());
    CHECK(occupancy->samples ==
          std::vector<sample>{{1423072260.0, 1.0}, {1423072319.0, 1.0}, {1423072380.0, 0.0}});
    CHECK(rec.missing() == 0);
}

TEST_CASE("recording: bad occupancy rows are errors with line numbers; the rest is kept") {
    const std::string text = std::string(occupancy_text) +
                             "\"4\",\"2015-02-04 17:54:00\",23.1,27.2\n"
                             "\"5\",\"2015-02-31 17:55:00\",23.1,27.2,426,713.5,0.0047,0\n"
                             "\"6\",\"2015-02-04 17:56:00\",,27.2,426,713.5,0.0047,x\n";
    const auto rec = parse_recording(text, recording_format::occupancy);
    CHECK(rec.rows == 4);
    CHECK(rec.error_count == 3);
    REQUIRE(rec.errors.size() == 3);
    CHECK(rec.errors[0].line == 5);
    CHECK(rec.errors[0].reason == "expected 8 fields, found 4");
    CHECK(rec.errors[1].line == 6);
    CHECK(rec.errors[1].reason == "bad time '2015-02-31 17:55:00'");
    CHECK(rec.errors[2].line == 7);
    CHECK(rec.errors[2].reason == "bad value 'x' for occupancy");
    CHECK(rec.find("temperature")->missing == 1);
    CHECK(rec.find("temperature")->samples.size() == 3);
    CHECK(rec.find("humidity")->samples.size() == 4);
}

TEST_CASE("recording: air quality with decimal commas, CRLF, -200 and trailing ;;;; lines") {
    const auto rec = parse_recording(airquality_text);
    CHECK(rec.format == recording_format::airquality);
    CHECK(rec.error_count == 0);
    CHECK(rec.rows == 3);
    CHECK(names(rec) == std::vector<std::string>{"co_gt", "pt08_s1_co", "nmhc_gt", "c6h6_gt",
                                                 "pt08_s2_nmhc", "nox_gt", "pt08_s3_nox", "no2_gt",
                                                 "pt08_s4_no2", "pt08_s5_o3", "t", "rh", "ah"});
    CHECK(rec.find("co_gt")->samples ==
          std::vector<sample>{{1078941600.0, 2.6}, {1078945200.0, 2.0}, {1080828000.0, 1.7}});
    CHECK(rec.find("co_gt")->unit == "mg/m3");
    CHECK(rec.find("co_gt")->missing == 0);
    CHECK(rec.find("ah")->samples ==
          std::vector<sample>{{1078941600.0, 0.7578}, {1078945200.0, 0.7255}});
    CHECK(rec.find("ah")->missing == 1);
    CHECK(rec.find("c6h6_gt")->missing == 1);  // written -200,0
    CHECK(rec.find("nmhc_gt")->missing == 0);
    CHECK(rec.find("t")->unit == "C");
    CHECK(rec.find("t")->samples[0].value == 13.6);
    CHECK(rec.find("rh")->unit == "%RH");
    CHECK(rec.find("pt08_s1_co")->unit.empty());
    // Row 3 lacks 9 of 13 values: pt08_s1_co, c6h6, pt08_s2, pt08_s3, pt08_s4, pt08_s5, t, rh, ah.
    CHECK(rec.missing() == 9);
}

TEST_CASE("recording: air quality errors and empty fields") {
    const std::string text = std::string(airquality_text) +
                             "32/03/2004;18.00.00;1;1;1;1;1;1;1;1;1;1;1;1;1;;\r\n"
                             "11/03/2004;18.00.00;;1;1;1;1;1;1;1;1;1;1;1;1;;\r\n"
                             "11/03/2004;19.00.00;1;1;1\r\n";
    const auto rec = parse_recording(text, recording_format::airquality);
    CHECK(rec.rows == 4);
    REQUIRE(rec.errors.size() == 2);
    CHECK(rec.errors[0].line == 7);
    CHECK(rec.errors[0].reason == "bad date/time '32/03/2004;18.00.00'");
    CHECK(rec.errors[1].line == 9);
    CHECK(rec.errors[1].reason == "expected 15 fields, found 5");
    CHECK(rec.find("co_gt")->missing == 1);  // the empty field
}

TEST_CASE("recording: csv with a header, ISO times with zones and epoch seconds") {
    const auto rec = parse_recording(
        "time,Temperature\n"
        "2024-11-26T15:00:00Z,21.5\n"
        "2024-11-26T16:30:00+01:00,21.7\n"
        "1732635900.5,21.9\n"
        "2024-11-26 15:30:00,\n"
        "yesterday,1\n"
        "2024-11-26T15:45:00.250-0030,22\n");
    CHECK(rec.format == recording_format::csv);
    CHECK(rec.rows == 5);
    CHECK(names(rec) == std::vector<std::string>{"temperature"});
    CHECK(rec.find("temperature")->samples == std::vector<sample>{{1732633200.0, 21.5},
                                                                  {1732635000.0, 21.7},
                                                                  {1732635900.5, 21.9},
                                                                  {1732637700.25, 22.0}});
    CHECK(rec.find("temperature")->missing == 1);
    REQUIRE(rec.errors.size() == 1);
    CHECK(rec.errors[0].line == 6);
    CHECK(rec.errors[0].reason == "bad time 'yesterday'");
}

TEST_CASE("recording: csv without a header names its channel, CRLF and blank lines are fine") {
    const auto rec = parse_recording("1732630000,1.5\r\n\r\n1732630060,1.75\r\n",
                                     recording_format::automatic, "pressure");
    CHECK(rec.format == recording_format::csv);
    CHECK(rec.error_count == 0);
    CHECK(names(rec) == std::vector<std::string>{"pressure"});
    CHECK(rec.find("pressure")->samples ==
          std::vector<sample>{{1732630000.0, 1.5}, {1732630060.0, 1.75}});
    const auto two = parse_recording("1,2,3\n4,5,6\n");
    CHECK(names(two) == std::vector<std::string>{"value", "value_2"});
    CHECK(two.find("value_2")->samples == std::vector<sample>{{1.0, 3.0}, {4.0, 6.0}});
}

TEST_CASE("recording: format detection and names") {
    CHECK(fogbridge::detect_recording_format(occupancy_text) == recording_format::occupancy);
    CHECK(fogbridge::detect_recording_format(airquality_text) == recording_format::airquality);
    CHECK(fogbridge::detect_recording_format("date,value\n2024-01-01,1\n") ==
          recording_format::csv);
    CHECK(fogbridge::detect_recording_format("") == recording_format::csv);
    CHECK(fogbridge::parse_recording_format("auto") == recording_format::automatic);
    CHECK(fogbridge::parse_recording_format("AirQuality") == recording_format::airquality);
    CHECK_FALSE(fogbridge::parse_recording_format("xml").has_value());
    CHECK(fogbridge::to_lower_snake("HumidityRatio") == "humidity_ratio");
    CHECK(fogbridge::to_lower_snake("PT08.S1(CO)") == "pt08_s1_co");
    CHECK(fogbridge::to_lower_snake("NOx(GT)") == "nox_gt");
    CHECK(fogbridge::to_lower_snake("CO2") == "co2");
    CHECK(fogbridge::to_lower_snake(" T ") == "t");
}

TEST_CASE("recording: UTC time parsing") {
    CHECK(parse_utc_time("2000-02-29") == 951782400.0);
    CHECK(parse_utc_time("\"2015-02-04 17:51:00\"") == 1423072260.0);
    CHECK(parse_utc_time("2024-11-26T15:00:00z") == 1732633200.0);
    CHECK(parse_utc_time("2024-11-26T15:00") == 1732633200.0);
    CHECK(parse_utc_time("2024-11-26T20:30:00+05:30") == 1732633200.0);
    CHECK(parse_utc_time("2024-11-26T07:00:00-08") == 1732633200.0);
    CHECK(parse_utc_time("2024-11-26T15:00:00.125Z") == 1732633200.125);
    CHECK(parse_utc_time("1969-12-31T23:59:59Z") == -1.0);
    CHECK(parse_utc_time("1732633200.125") == 1732633200.125);
    CHECK_FALSE(parse_utc_time("2023-02-29").has_value());
    CHECK_FALSE(parse_utc_time("2024-13-01").has_value());
    CHECK_FALSE(parse_utc_time("2024-11-26T24:00:00").has_value());
    CHECK_FALSE(parse_utc_time("2024-11-26T15:00:00.Z").has_value());
    CHECK_FALSE(parse_utc_time("2024-11-26T15:00:00+5").has_value());
    CHECK_FALSE(parse_utc_time("2024-11-26X15:00:00").has_value());
    CHECK_FALSE(parse_utc_time("").has_value());
    CHECK_FALSE(parse_utc_time("nan").has_value());
}

TEST_CASE("recording: channels merge into one timeline") {
    const auto rec = parse_recording("time,a,b\n2,20,\n1,10,11\n");
    const auto events = fogbridge::merge_channels(rec);
    CHECK(events ==
          std::vector<fogbridge::recording_event>{{1.0, 0, 10.0}, {1.0, 1, 11.0}, {2.0, 0, 20.0}});
}

TEST_CASE("recording: an unreadable file is one error at line 0") {
    const auto rec = fogbridge::read_recording("/nonexistent/fogbridge/recording.csv");
    CHECK(rec.rows == 0);
    REQUIRE(rec.errors.size() == 1);
    CHECK(rec.errors[0].line == 0);
    CHECK(rec.errors[0].reason == "cannot read /nonexistent/fogbridge/recording.csv");
}
