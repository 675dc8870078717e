// Tracked buffers for the MoE layer: every buffer the layer allocates is
// counted by a MemoryMeter, so the saved and temporary byte totals that
// forward reports are measured, not estimated.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>

namespace snax {

// Bytes held by one group of buffers: the current total and its maximum.
struct MemoryMeter {
  int64_t current = 0;
  int64_t peak = 0;
  void add(int64_t bytes) {
    current += bytes;
    peak = std::max(peak, current);
  }
  void remove(int64_t bytes) { current -= bytes; }
};

// A heap array of `count` elements whose bytes are counted by a meter from
// allocation until release() or destruction. Elements start uninitialized.
// The meter must outlive the buffer.
template <typename T>
class Buffer {
 public:
  Buffer() = default;
  Buffer(MemoryMeter& meter, int64_t count) : meter_(&meter), data_(new T[count > 0 ? count : 1]), count_(count) {
    meter_->add(bytes());
  }
  Buffer(MemoryMeter& meter, int64_t count, T fill) : Buffer(meter, count) { std::fill(data_.get(), data_.get() + count_, fill); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& other) noexcept { take(other); }
  Buffer& operator=(Buffer&& other) noexcept {
    if (this != &other) {
      release();
      take(other);
    }
    return *this;
  }
  ~Buffer() { release(); }

  // Frees the memory now and stops counting it.
  void release() {
    if (meter_ != nullptr) meter_->remove(bytes());
    meter_ = nullptr;
    data_.reset();
    count_ = 0;
  }

  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  int64_t size() const { return count_; }
  int64_t bytes() const { return count_ * static_cast<int64_t>(sizeof(T)); }
  bool empty() const { return data_ == nullptr; }
  T& operator[](int64_t i) { return data_[i]; }
  const T& operator[](int64_t i) const { return data_[i]; }

 private:
  void take(Buffer& other) {
    meter_ = other.meter_;
    data_ = std::move(other.data_);
    count_ = other.count_;
    other.meter_ = nullptr;
    other.count_ = 0;
  }

  MemoryMeter* meter_ = nullptr;
  std::unique_ptr<T[]> data_;
  int64_t count_ = 0;
};

}  // namespace snax
