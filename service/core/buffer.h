#pragma once
// A bounded byte buffer for one side of a connection: bytes are read into the free tail, consumed
// from the head, and compacted only when the tail runs out. Views handed out by data() stay valid
// until the next compact() or grow().

#include <cstddef>
#include <cstring>
#include <memory>
#include <span>

namespace proxy::core {

class Buffer {
public:
    explicit Buffer(std::size_t capacity) : data_(new char[capacity]), capacity_(capacity) {}

    std::span<const char> readable() const { return {data_.get() + begin_, end_ - begin_}; }
    std::span<char> writable() { return {data_.get() + end_, capacity_ - end_}; }
    std::size_t size() const { return end_ - begin_; }
    bool empty() const { return begin_ == end_; }
    std::size_t capacity() const { return capacity_; }
    bool full() const { return begin_ == 0 && end_ == capacity_; }

    void commit(std::size_t n) { end_ += n; }
    void consume(std::size_t n) {
        begin_ += n;
        if (begin_ == end_) begin_ = end_ = 0;
    }
    // Moves unread bytes to the front so the whole free space is one tail.
    void compact() {
        if (begin_ == 0) return;
        std::memmove(data_.get(), data_.get() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
    }
    // Grows to at least `capacity` (never shrinks), keeping unread bytes. Invalidates views.
    void grow(std::size_t capacity) {
        if (capacity <= capacity_) return;
        std::unique_ptr<char[]> bigger(new char[capacity]);
        std::memcpy(bigger.get(), data_.get() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
        data_ = std::move(bigger);
        capacity_ = capacity;
    }
    void clear() { begin_ = end_ = 0; }

private:
    std::unique_ptr<char[]> data_;
    std::size_t capacity_;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
};

}  // namespace proxy::core
