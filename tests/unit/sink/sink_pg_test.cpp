// fogbridge-sink's PostgreSQL array literals (the unnest() parameters) and metrics text.
#include <doctest/doctest.h>

#include "pg.hpp"
#include "sink_metrics.hpp"

using namespace fogbridge::sink;

TEST_CASE("array literals quote and escape every element") {
    CHECK(array_literal({}) == "{}");
    CHECK(array_literal({"a", "b c"}) == R"({"a","b c"})");
    CHECK(array_literal({R"(q"uote)", R"(back\slash)", "NULL", "{x,y}"}) ==
          R"({"q\"uote","back\\slash","NULL","{x,y}"})");
}

TEST_CASE("metrics count rows, duplicates and rejects") {
    sink_metrics m;
    m.message("batch");
    m.batch({.rows = 10, .duplicates = 2, .lag_seconds = 0.5});
    m.rejected("bad_json", 3);
    m.database_error();
    m.state(true, false, 4);
    const std::string text = m.render(sink_metrics::clock::now());
    CHECK(text.find("fogbridge_sink_rows_total 10\n") != std::string::npos);
    CHECK(text.find("fogbridge_sink_duplicates_total 2\n") != std::string::npos);
    CHECK(text.find("fogbridge_sink_rows_per_second 1\n") != std::string::npos);
    CHECK(text.find("fogbridge_sink_rejected_total{reason=\"bad_json\"} 3\n") != std::string::npos);
    CHECK(text.find("fogbridge_sink_database_errors_total 1\n") != std::string::npos);
    CHECK(text.find("fogbridge_sink_database_up 1\n") != std::string::npos);
    CHECK(text.find("fogbridge_sink_broker_connected 0\n") != std::string::npos);
    CHECK(text.find("fogbridge_sink_messages_total{kind=\"batch\"} 1\n") != std::string::npos);
}
