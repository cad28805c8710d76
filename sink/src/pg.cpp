#include "pg.hpp"

#include <libpq-fe.h>

#include <string>

namespace fogbridge::sink {
namespace {

// SQLSTATE classes and codes worth a retry: connection trouble, the server going away or not
// ready, resources, serialization failures and deadlocks, a statement timeout.
bool transient_state(std::string_view s) {
    if (s.size() != 5) return true;  // no state: the connection broke
    const auto cls = s.substr(0, 2);
    return cls == "08" || cls == "53" || cls == "57" || cls == "40" || cls == "58" ||
           s == "55P03" || s == "25P03";
}

std::string first_line(const char* text) {
    std::string s = text != nullptr ? text : "";
    const auto nl = s.find('\n');
    if (nl != std::string::npos) s.resize(nl);
    return s;
}

}  // namespace

void pg_rows::clear::operator()(pg_result* r) const { PQclear(r); }

std::size_t pg_rows::size() const { return static_cast<std::size_t>(PQntuples(result_.get())); }

// (row, column) in libpq's PQgetvalue order, as in every table API.
std::string_view pg_rows::at(std::size_t row,  // NOLINT(bugprone-easily-swappable-parameters)
                             std::size_t column) const {
    const int r = static_cast<int>(row);
    const int c = static_cast<int>(column);
    return {PQgetvalue(result_.get(), r, c),
            static_cast<std::size_t>(PQgetlength(result_.get(), r, c))};
}

bool pg_rows::is_null(std::size_t row, std::size_t column) const {
    return PQgetisnull(result_.get(), static_cast<int>(row), static_cast<int>(column)) != 0;
}

std::size_t pg_rows::affected() const {
    const std::string n = PQcmdTuples(result_.get());
    return n.empty() ? 0 : std::stoul(n);
}

pg_connection::pg_connection(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str())) {
    if (conn_ == nullptr) throw pg_error("database: out of memory", {}, true);
    if (PQstatus(conn_) != CONNECTION_OK) {
        const std::string why = first_line(PQerrorMessage(conn_));
        PQfinish(conn_);
        conn_ = nullptr;
        throw pg_error("database: " + why, {}, true);
    }
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
}

pg_connection::~pg_connection() {
    if (conn_ != nullptr) PQfinish(conn_);
}

bool pg_connection::ok() const { return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK; }

pg_rows pg_connection::check(pg_result* r) {
    const auto status = r != nullptr ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return pg_rows(r);
    const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    const std::string code = state != nullptr ? state : "";
    std::string why = first_line(r != nullptr ? PQresultErrorMessage(r) : PQerrorMessage(conn_));
    if (why.empty()) why = first_line(PQerrorMessage(conn_));
    if (r != nullptr) PQclear(r);
    const bool lost = PQstatus(conn_) != CONNECTION_OK;
    throw pg_error("database: " + why, sql_state{code}, lost || transient_state(code));
}

pg_rows pg_connection::exec(const std::string& sql) { return check(PQexec(conn_, sql.c_str())); }

pg_rows pg_connection::exec(const std::string& sql, const std::vector<pg_param>& params) {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
    return check(PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                              values.data(), nullptr, nullptr, 0));
}

void append_array_text(std::string& out, std::string_view element) {
    out += '"';
    for (const char c : element) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    out += '"';
}

std::string array_literal(const std::vector<std::string>& values) {
    std::string out = "{";
    for (const auto& v : values) {
        if (out.size() > 1) out += ',';
        append_array_text(out, v);
    }
    out += '}';
    return out;
}

}  // namespace fogbridge::sink
