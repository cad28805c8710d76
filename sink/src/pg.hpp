// A thin RAII wrapper over one libpq connection: text-format statements with parameters, and
// errors that say whether retrying later can help. Not thread-safe: one thread per connection.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct pg_conn;
struct pg_result;

namespace fogbridge::sink {

// A five-character SQLSTATE ("" when the failure has none), typed apart from the message.
struct sql_state {
    std::string code;
};

class pg_error final : public std::runtime_error {
  public:
    pg_error(const std::string& what, sql_state state, bool transient)
        : std::runtime_error(what), sqlstate_(std::move(state.code)), transient_(transient) {}
    const std::string& sqlstate() const { return sqlstate_; }
    // The connection is gone or the server asked to try again (deadlock, shutdown, timeout):
    // the same statement may well succeed later. Otherwise the data itself was refused.
    bool transient() const { return transient_; }

  private:
    std::string sqlstate_;
    bool transient_;
};

class pg_rows final {
  public:
    explicit pg_rows(pg_result* r) : result_(r) {}
    std::size_t size() const;
    std::string_view at(std::size_t row, std::size_t column) const;
    bool is_null(std::size_t row, std::size_t column) const;
    std::size_t affected() const;  // rows an INSERT, UPDATE or DELETE touched

  private:
    struct clear {
        void operator()(pg_result* r) const;
    };
    std::unique_ptr<pg_result, clear> result_;
};

using pg_param = std::optional<std::string>;  // nullopt: SQL NULL

class pg_connection final {
  public:
    // Throws pg_error (transient) when the server cannot be reached.
    explicit pg_connection(const std::string& conninfo);
    ~pg_connection();
    pg_connection(const pg_connection&) = delete;
    pg_connection& operator=(const pg_connection&) = delete;

    pg_rows exec(const std::string& sql);
    pg_rows exec(const std::string& sql, const std::vector<pg_param>& params);
    bool ok() const;

  private:
    pg_rows check(pg_result* r);
    pg_conn* conn_ = nullptr;
};

// Appends one element of a PostgreSQL array literal ({"a","b"}), quoted and escaped.
void append_array_text(std::string& out, std::string_view element);
// A text[] literal of the values; and of numbers, with NULL for nullopt.
std::string array_literal(const std::vector<std::string>& values);

}  // namespace fogbridge::sink
