// A thin RAII layer over the SQLite C API: one connection, prepared statements, transactions.
// Not thread-safe: the owner serialises all use of a connection and its statements.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace fogbridge::sqlite {

class statement;

// read_only never creates or changes a file: while a -wal file is there (a gateway may have the
// store open) it shares the WAL index; without one it opens the file immutable, so that SQLite
// leaves no -wal or -shm file behind (one owned by another user could stop the gateway).
enum class open_mode { read_write, read_only };

class database final {
  public:
    // Opens the file (read_write: creating it if missing); throws store_error on failure.
    explicit database(std::filesystem::path path, open_mode mode = open_mode::read_write);
    ~database();
    database(const database&) = delete;
    database& operator=(const database&) = delete;

    // Runs SQL that returns no rows (pragmas that return one are fine too).
    void exec(const char* sql);
    // Throws store_error for result code rc, with SQLite's message and the context.
    // An I/O error marks the connection failed().
    [[noreturn]] void fail(int rc, std::string_view context);
    std::int64_t changes() const noexcept;
    sqlite3* get() const noexcept { return db_; }

    // True once a call failed with an I/O error (a write or fsync the disk refused): the
    // connection's view of the file is then not trusted, and the owner should reopen().
    bool failed() const noexcept { return failed_; }
    void mark_failed() noexcept { failed_ = true; }
    // Closes the connection and opens the file again; every statement is prepared again. On
    // failure (throws store_error) the connection stays closed and failed(): each use throws
    // store_errc::io until a reopen() succeeds.
    void reopen();

  private:
    friend class statement;
    void open();

    std::filesystem::path path_;
    open_mode mode_;
    sqlite3* db_ = nullptr;
    bool failed_ = false;
    std::vector<statement*> statements_;  // prepared on this connection, for reopen()
};

class statement final {
  public:
    statement(database& db, std::string_view sql);
    ~statement();
    statement(const statement&) = delete;
    statement& operator=(const statement&) = delete;

    // Indexes are 1-based as in SQLite. Text is bound without a copy: keep it alive until reset.
    void bind_int(int index, std::int64_t value);
    void bind_double(int index, double value);
    void bind_text(int index, std::string_view value);
    void bind_null(int index);

    // True while a row is ready; false once the statement is done. Throws store_error.
    bool step();
    // Steps a statement expected to return no row (or to be read no further).
    void run();
    void reset() noexcept;           // ready to step again; bindings stay
    void clear_bindings() noexcept;  // so no text bound without a copy outlives its owner

    std::int64_t column_int(int index) const noexcept;
    double column_double(int index) const noexcept;
    std::string_view column_text(int index) const noexcept;
    bool column_is_null(int index) const noexcept;

  private:
    friend class database;
    void prepare();
    void finalize() noexcept;
    sqlite3_stmt* prepared();  // stmt_, or throws store_errc::io while the connection is closed

    database* db_;
    std::string sql_;
    sqlite3_stmt* stmt_ = nullptr;
};

// Resets a statement (and clears its bindings) when leaving a scope, also on an exception.
class reset_on_exit final {
  public:
    explicit reset_on_exit(statement& s) noexcept : s_(s) {}
    ~reset_on_exit() {
        s_.reset();
        s_.clear_bindings();
    }
    reset_on_exit(const reset_on_exit&) = delete;
    reset_on_exit& operator=(const reset_on_exit&) = delete;

  private:
    statement& s_;
};

// The prepared BEGIN, COMMIT and ROLLBACK statements a transaction runs, named at the call.
struct transaction_statements {
    statement& begin;
    statement& commit;
    statement& rollback;
};

// BEGIN IMMEDIATE on construction; ROLLBACK on destruction unless commit() succeeded.
class transaction final {
  public:
    explicit transaction(const transaction_statements& s);
    ~transaction();
    transaction(const transaction&) = delete;
    transaction& operator=(const transaction&) = delete;

    void commit();

  private:
    statement& commit_;
    statement& rollback_;
    bool open_ = true;
};

}  // namespace fogbridge::sqlite
