// std::thread, std::mutex, std::condition_variable, std::shared_mutex and thread_local-free
// C++ code as any program writes it (no cohook header): a bounded queue between producers and
// consumers. The transcript must be the same with and without corun.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

class BoundedQueue {
 public:
  explicit BoundedQueue(std::size_t capacity) : capacity_(capacity) {}
  void push(long value) {
    std::unique_lock<std::mutex> lock(mutex_);
    not_full_.wait(lock, [&] { return items_.size() < capacity_; });
    items_.push_back(value);
    not_empty_.notify_one();
  }
  bool pop(long* value) {
    std::unique_lock<std::mutex> lock(mutex_);
    not_empty_.wait(lock, [&] { return !items_.empty() || closed_; });
    if (items_.empty()) return false;
    *value = items_.front();
    items_.pop_front();
    not_full_.notify_one();
    return true;
  }
  void close() {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    not_empty_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable not_full_, not_empty_;
  std::deque<long> items_;
  std::size_t capacity_;
  bool closed_ = false;
};

}  // namespace

int main() {
  BoundedQueue queue(4);
  std::vector<std::thread> producers, consumers;
  std::mutex totals_mutex;
  long total = 0, count = 0;
  for (int p = 0; p < 4; ++p)
    producers.emplace_back([&queue, p] {
      for (long i = 1; i <= 2500; ++i) queue.push(p * 100000 + i);
    });
  for (int c = 0; c < 3; ++c)
    consumers.emplace_back([&] {
      long value, sum = 0, n = 0;
      while (queue.pop(&value)) {
        sum += value;
        ++n;
      }
      std::lock_guard<std::mutex> lock(totals_mutex);
      total += sum;
      count += n;
    });
  for (auto& t : producers) t.join();
  queue.close();
  for (auto& t : consumers) t.join();
  std::printf("items %ld sum %ld\n", count, total);

  // A timed wait that times out, and one that is notified.
  std::mutex m;
  std::condition_variable cv;
  bool flag = false;
  std::unique_lock<std::mutex> lock(m);
  auto start = std::chrono::steady_clock::now();
  bool got = cv.wait_for(lock, std::chrono::milliseconds(50), [&] { return flag; });
  auto waited = std::chrono::steady_clock::now() - start;
  std::printf("wait_for timed out: %d, waited >= 40ms: %d\n", !got, waited >= std::chrono::milliseconds(40));
  std::thread setter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::lock_guard<std::mutex> guard(m);
    flag = true;
    cv.notify_one();
  });
  got = cv.wait_for(lock, std::chrono::seconds(10), [&] { return flag; });
  lock.unlock();
  setter.join();
  std::printf("notified: %d\n", got);

  // Readers share a std::shared_mutex; a writer excludes them.
  std::shared_mutex shared;
  int readers_inside = 0, max_inside = 0;
  std::mutex counter_mutex;
  std::vector<std::thread> readers;
  for (int r = 0; r < 4; ++r)
    readers.emplace_back([&] {
      std::shared_lock<std::shared_mutex> read(shared);
      {
        std::lock_guard<std::mutex> g(counter_mutex);
        max_inside = std::max(max_inside, ++readers_inside);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      std::lock_guard<std::mutex> g(counter_mutex);
      --readers_inside;
    });
  for (auto& t : readers) t.join();
  {
    std::unique_lock<std::shared_mutex> write(shared);
    std::printf("readers shared the lock: %d, writer alone: %d\n", max_inside > 1, readers_inside == 0);
  }

  // An exception thrown and caught inside a thread.
  std::thread thrower([] {
    try {
      throw std::runtime_error("inside a thread");
    } catch (const std::exception& e) {
      std::printf("caught: %s\n", e.what());
    }
  });
  thrower.join();
  std::printf("thread ids differ: %d\n", std::this_thread::get_id() != std::thread::id());
  return 0;
}
