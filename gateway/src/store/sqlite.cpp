#include "store/sqlite.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <string>
#include <utility>

#include "store/store_error.hpp"

namespace fogbridge::sqlite {

namespace {

// A file: URI of the path that opens it immutable (read-only, no locks, no -wal or -shm).
std::string immutable_uri(const std::filesystem::path& path) {
    std::string uri = "file:";
    for (const char c : path.string()) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) != 0 || c == '/' || c == '.' || c == '_' || c == '-' || c == '~') {
            uri += c;
        } else {
            uri += fmt::format("%{:02X}", static_cast<unsigned>(u));
        }
    }
    return uri + "?immutable=1";
}

}  // namespace

database::database(std::filesystem::path path, open_mode mode)
    : path_(std::move(path)), mode_(mode) {
    open();
}

void database::open() {
    // NOMUTEX: the owner serialises access, so SQLite's own connection mutex is not needed.
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    std::string name = path_.string();
    if (mode_ == open_mode::read_only) {
        std::error_code ec;
        const bool wal_present = std::filesystem::exists(name + "-wal", ec);
        flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | (wal_present ? 0 : SQLITE_OPEN_URI);
        if (!wal_present) {
            name = immutable_uri(path_);
        }
    }
    const int rc = sqlite3_open_v2(name.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
        const std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
        sqlite3_close(db_);
        db_ = nullptr;
        throw store_error(store_errc_from_sqlite(rc), fmt::format("cannot open: {}", message));
    }
    sqlite3_extended_result_codes(db_, 1);
}

database::~database() { sqlite3_close(db_); }

void database::reopen() {
    for (statement* s : statements_) s->finalize();
    sqlite3_close(db_);  // every statement is finalized: it closes now
    db_ = nullptr;
    failed_ = true;  // until the whole reopen succeeded
    open();
    for (statement* s : statements_) s->prepare();
    failed_ = false;
}

void database::exec(const char* sql) {
    if (db_ == nullptr) fail(SQLITE_IOERR, sql);
    const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) {
        fail(rc, sql);
    }
}

void database::fail(int rc, std::string_view context) {
    if ((rc & 0xff) == SQLITE_IOERR) failed_ = true;
    if (db_ == nullptr) {
        throw store_error(
            store_errc::io,
            fmt::format("sqlite: connection closed after an I/O error ({})", context));
    }
    throw store_error(store_errc_from_sqlite(rc),
                      fmt::format("sqlite: {} ({})", sqlite3_errmsg(db_), context));
}

std::int64_t database::changes() const noexcept { return sqlite3_changes64(db_); }

statement::statement(database& db, std::string_view sql) : db_(&db), sql_(sql) {
    if (db.get() == nullptr) db.fail(SQLITE_IOERR, sql);
    prepare();
    db.statements_.push_back(this);
}

statement::~statement() {
    auto& all = db_->statements_;
    all.erase(std::remove(all.begin(), all.end(), this), all.end());
    finalize();
}

void statement::prepare() {
    const int rc = sqlite3_prepare_v3(db_->get(), sql_.data(), static_cast<int>(sql_.size()),
                                      SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
    if (rc != SQLITE_OK) {
        finalize();
        db_->fail(rc, sql_);
    }
}

void statement::finalize() noexcept {
    sqlite3_finalize(stmt_);
    stmt_ = nullptr;
}

sqlite3_stmt* statement::prepared() {
    if (stmt_ == nullptr) db_->fail(SQLITE_IOERR, sql_);
    return stmt_;
}

void statement::bind_int(int index, std::int64_t value) {
    const int rc = sqlite3_bind_int64(prepared(), index, value);
    if (rc != SQLITE_OK) {
        db_->fail(rc, sql_);
    }
}

void statement::bind_double(int index, double value) {
    const int rc = sqlite3_bind_double(prepared(), index, value);
    if (rc != SQLITE_OK) {
        db_->fail(rc, sql_);
    }
}

void statement::bind_text(int index, std::string_view value) {
    if (value.size() > static_cast<std::size_t>(INT_MAX)) {
        throw store_error(store_errc::invalid_input, "text too long to store");
    }
    const int rc = sqlite3_bind_text(prepared(), index, value.data(),
                                     static_cast<int>(value.size()), SQLITE_STATIC);
    if (rc != SQLITE_OK) {
        db_->fail(rc, sql_);
    }
}

void statement::bind_null(int index) {
    const int rc = sqlite3_bind_null(prepared(), index);
    if (rc != SQLITE_OK) {
        db_->fail(rc, sql_);
    }
}

bool statement::step() {
    const int rc = sqlite3_step(prepared());
    if (rc == SQLITE_ROW) {
        return true;
    }
    if (rc == SQLITE_DONE) {
        return false;
    }
    db_->fail(rc, sql_);
}

void statement::run() { static_cast<void>(step()); }

void statement::reset() noexcept {
    if (stmt_ != nullptr) sqlite3_reset(stmt_);
}

void statement::clear_bindings() noexcept {
    if (stmt_ != nullptr) sqlite3_clear_bindings(stmt_);
}

std::int64_t statement::column_int(int index) const noexcept {
    return sqlite3_column_int64(stmt_, index);
}

double statement::column_double(int index) const noexcept {
    return sqlite3_column_double(stmt_, index);
}

std::string_view statement::column_text(int index) const noexcept {
    const auto* text = sqlite3_column_text(stmt_, index);
    if (text == nullptr) {
        return {};
    }
    // SQLite's text is unsigned char; the bytes are UTF-8 either way.
    return {reinterpret_cast<const char*>(text),
            static_cast<std::size_t>(sqlite3_column_bytes(stmt_, index))};
}

bool statement::column_is_null(int index) const noexcept {
    return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
}

transaction::transaction(const transaction_statements& s)
    : commit_(s.commit), rollback_(s.rollback) {
    const reset_on_exit guard(s.begin);
    s.begin.run();
}

transaction::~transaction() {
    if (!open_) {
        return;
    }
    const reset_on_exit guard(rollback_);
    try {
        rollback_.run();
    } catch (...) {  // NOLINT(bugprone-empty-catch): SQLite rolls back by itself if this fails
    }
}

void transaction::commit() {
    const reset_on_exit guard(commit_);
    commit_.run();
    open_ = false;
}

}  // namespace fogbridge::sqlite
