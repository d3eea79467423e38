// Prefetcher<T>: runs a producer function on a background thread and hands its results
// to the consumer in production order through a bounded queue, so the next batches are
// prepared while the model computes. A producer exception reaches the consumer at the
// next() that would have returned that item (and every later next()). The destructor
// stops and joins the thread.
//
//   Prefetcher<Batch> ahead([&] { return make_next_batch(); }, /*capacity=*/2);
//   Batch b = ahead.next();
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace attend::data {

template <typename T>
class Prefetcher {
 public:
  Prefetcher(std::function<T()> produce, size_t capacity)
      : produce_(std::move(produce)), capacity_(capacity > 0 ? capacity : 1) {
    thread_ = std::thread([this] { run(); });
  }
  ~Prefetcher() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  T next() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return !queue_.empty() || error_; });
    if (queue_.empty()) std::rethrow_exception(error_);
    T item = std::move(queue_.front());
    queue_.pop_front();
    changed_.notify_all();
    return item;
  }

 private:
  void run() {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] { return stop_ || queue_.size() < capacity_; });
        if (stop_) return;
      }
      try {
        T item = produce_();
        std::lock_guard<std::mutex> lock(mutex_);
        queue_.push_back(std::move(item));
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        error_ = std::current_exception();
        changed_.notify_all();
        return;
      }
      changed_.notify_all();
    }
  }

  std::function<T()> produce_;
  size_t capacity_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<T> queue_;
  std::exception_ptr error_;
  bool stop_ = false;
  std::thread thread_;  // last: starts after everything above exists
};

}  // namespace attend::data
