#include "common/bounded_queue.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <thread>
#include <vector>

using fogbridge::bounded_queue;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

TEST_CASE("bounded queue: a consumer waiting for a group wakes when the group is there") {
    bounded_queue<int> q(100);
    std::thread producer([&] {
        for (int i = 0; i < 10; ++i) q.push(i);
    });
    const auto start = clock_type::now();
    q.wait_for_size(10, start + 10s);
    CHECK(clock_type::now() - start < 5s);  // woken by the 10th push, not by the deadline
    producer.join();
    std::vector<int> out;
    CHECK(q.pop_some(out, 100, 0ms) == 10);
    CHECK(out == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
}

TEST_CASE("bounded queue: waits end at the deadline or on close; pop_some wakes on a push") {
    bounded_queue<int> q(4);
    q.push(1);
    const auto start = clock_type::now();
    q.wait_for_size(8, start + 50ms);  // more than the capacity: only the deadline ends it
    CHECK(clock_type::now() - start >= 50ms);

    std::vector<int> out;
    CHECK(q.pop_some(out, 10, 0ms) == 1);
    std::thread producer([&] { q.push(2); });
    const auto waited = clock_type::now();
    CHECK(q.pop_some(out, 10, 10s) == 1);
    CHECK(clock_type::now() - waited < 5s);  // the first push into an empty queue wakes it
    producer.join();
    std::thread closer([&] { q.close(); });
    q.wait_for_size(3, clock_type::now() + 10s);
    closer.join();
    CHECK(q.closed());
    CHECK_FALSE(q.push(3));
}

TEST_CASE("bounded queue: push_all keeps order, blocks while full and wakes a waiting group") {
    bounded_queue<int> q(3);
    std::vector<int> run{1, 2, 3, 4, 5};
    std::thread producer([&] { CHECK(q.push_all(run)); });
    std::vector<int> out;
    const auto deadline = clock_type::now() + 10s;
    while (out.size() < 5 && clock_type::now() < deadline) {
        q.wait_for_size(1, deadline);
        q.pop_some(out, 10, 0ms);
    }
    producer.join();
    CHECK(out == std::vector<int>{1, 2, 3, 4, 5});
    CHECK(run.empty());

    // A consumer waiting for 2 wakes within one push_all of 2, not at its deadline.
    std::vector<int> pair{6, 7};
    std::thread second([&] { q.push_all(pair); });
    const auto start = clock_type::now();
    q.wait_for_size(2, start + 10s);
    CHECK(clock_type::now() - start < 5s);
    second.join();

    q.close();
    std::vector<int> late{8};
    CHECK_FALSE(q.push_all(late));
    CHECK(late.empty());
}
