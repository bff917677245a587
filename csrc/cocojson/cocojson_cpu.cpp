// COCO results json -> columns (see cocojson.h). A strict reader of one shape: every departure from it is
// a fallback to the general json path, never a guess, so the fast path cannot change a number.
#include "cocojson/cocojson.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <utility>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "common/parallel.h"

namespace hpefast {

namespace {
constexpr size_t kHugePage = size_t(2) << 20;
}  // namespace

void* column_allocate(size_t bytes) {
  if (bytes < kHugePage) {
    void* p = std::malloc(bytes == 0 ? 1 : bytes);
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }
  const size_t size = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  void* p = std::aligned_alloc(kHugePage, size);
  if (p == nullptr) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  madvise(p, size, MADV_HUGEPAGE);  // advice only: without transparent huge pages nothing changes
#endif
  return p;
}

void column_deallocate(void* p, size_t) noexcept { std::free(p); }

namespace {

struct Fallback {
  std::string reason;
};

[[noreturn]] void fallback(const char* why) { throw Fallback{why}; }

inline bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Powers of ten exactly representable as doubles (Clinger's fast path).
constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                             1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

class Reader {
 public:
  Reader(const char* p, const char* end) : p_(p), end_(end) {}

  const char* pos() const { return p_; }
  bool at_end() const { return p_ >= end_; }

  void skip_ws() {
    while (p_ < end_ && is_ws(*p_)) ++p_;
  }

  char peek() const { return p_ < end_ ? *p_ : '\0'; }

  void expect(char c, const char* why) {
    if (p_ >= end_ || *p_ != c) fallback(why);
    ++p_;
  }

  // A JSON number as the double Python's json gives (float(text), or float(int(text)) for integers).
  double number() {
    const char* start = p_;
    bool neg = false;
    if (p_ < end_ && *p_ == '-') {
      neg = true;
      ++p_;
    }
    uint64_t mant = 0;
    int sig = 0;  // significant digits accumulated in mant
    bool many = false;
    int64_t frac_digits = 0;
    if (p_ >= end_ || !is_digit(*p_)) fallback("a value that is not a number");
    if (*p_ == '0') {
      ++p_;
      if (p_ < end_ && is_digit(*p_)) fallback("a number with a leading zero");
    } else {
      while (p_ < end_ && is_digit(*p_)) {
        if (sig < 19) {
          mant = mant * 10 + static_cast<uint64_t>(*p_ - '0');
          ++sig;
        } else {
          many = true;
        }
        ++p_;
      }
    }
    bool integer = true;
    if (p_ < end_ && *p_ == '.') {
      integer = false;
      ++p_;
      if (p_ >= end_ || !is_digit(*p_)) fallback("a number with no digit after '.'");
      while (p_ < end_ && is_digit(*p_)) {
        const int d = *p_ - '0';
        if (mant == 0 && d == 0) {
          ++frac_digits;  // leading zeros of the fraction are not significant
        } else if (sig < 19) {
          mant = mant * 10 + static_cast<uint64_t>(d);
          ++sig;
          ++frac_digits;
        } else {
          many = true;
        }
        ++p_;
      }
    }
    int64_t exp10 = 0;
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      integer = false;
      ++p_;
      bool eneg = false;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) eneg = *p_++ == '-';
      if (p_ >= end_ || !is_digit(*p_)) fallback("a number with no digit in its exponent");
      while (p_ < end_ && is_digit(*p_)) {
        if (exp10 < 100000) exp10 = exp10 * 10 + (*p_ - '0');
        ++p_;
      }
      if (eneg) exp10 = -exp10;
    }
    if (integer && mant == 0 && !many) return 0.0;  // json "-0" is the int 0, hence +0.0
    const int64_t e = exp10 - frac_digits;
    if (!many && mant <= (uint64_t(1) << 53) && e >= -22 && e <= 22) {
      const double m = static_cast<double>(mant);  // exact
      const double v = e < 0 ? m / kPow10[-e] : m * kPow10[e];  // one correctly rounded operation
      return neg ? -v : v;
    }
    double v = 0.0;
    auto r = std::from_chars(start, p_, v, std::chars_format::general);
    if (r.ec != std::errc() || r.ptr != p_ || !std::isfinite(v)) fallback("a number out of double range");
    return v;
  }

  // A JSON integer in int64 (ids); a float, an exponent or a larger integer needs the general path.
  int64_t integer() {
    bool neg = false;
    if (p_ < end_ && *p_ == '-') {
      neg = true;
      ++p_;
    }
    if (p_ >= end_ || !is_digit(*p_)) fallback("an id that is not an integer");
    uint64_t v = 0;
    int digits = 0;
    if (*p_ == '0') {
      ++p_;
      digits = 1;
    } else {
      while (p_ < end_ && is_digit(*p_)) {
        if (++digits > 18) fallback("an id of more than 18 digits");
        v = v * 10 + static_cast<uint64_t>(*p_ - '0');
        ++p_;
      }
    }
    if (p_ < end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E' || is_digit(*p_))) fallback("a non-integer id");
    return neg ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
  }

  // The raw bytes of a key (no escapes allowed: every key the fast path knows is plain ASCII).
  std::pair<const char*, size_t> key() {
    expect('"', "an object key that is not a string");
    const char* b = p_;
    while (p_ < end_ && *p_ != '"') {
      if (*p_ == '\\' || static_cast<unsigned char>(*p_) < 0x20) fallback("an escaped key");
      ++p_;
    }
    if (p_ >= end_) fallback("an unterminated string");
    const size_t n = static_cast<size_t>(p_ - b);
    ++p_;
    return {b, n};
  }

 private:
  const char* p_;
  const char* end_;
};

enum Field : unsigned { kImage = 1, kCategory = 2, kScore = 4, kKeypoints = 8, kBbox = 16 };

inline unsigned field_of(const char* k, size_t n) {
  auto is = [&](const char* name) { return n == std::strlen(name) && std::memcmp(k, name, n) == 0; };
  if (is("image_id")) return kImage;
  if (is("category_id")) return kCategory;
  if (is("score")) return kScore;
  if (is("keypoints")) return kKeypoints;
  if (is("bbox")) return kBbox;
  return 0;
}

// One result object at r (which is at its '{'), appended to out.
void parse_object(Reader& r, CocoResultsColumns& out) {
  r.expect('{', "an entry that is not an object");
  unsigned seen = 0;
  double box[4] = {NAN, NAN, NAN, NAN};
  double extent[4] = {NAN, NAN, NAN, NAN};
  r.skip_ws();
  if (r.peek() == '}') fallback("an empty result object");
  for (;;) {
    r.skip_ws();
    auto [k, n] = r.key();
    const unsigned f = field_of(k, n);
    if (f == 0) fallback("a key other than image_id, category_id, score, keypoints, bbox");
    if (seen & f) fallback("a duplicate key");
    seen |= f;
    r.skip_ws();
    r.expect(':', "a key without ':'");
    r.skip_ws();
    switch (f) {
      case kImage:
        out.image_id.push_back(r.integer());
        break;
      case kCategory:
        out.category_id.push_back(r.integer());
        break;
      case kScore:
        out.score.push_back(r.number());
        break;
      case kKeypoints: {
        r.expect('[', "keypoints that are not a list");
        r.skip_ws();
        if (r.peek() == ']') fallback("empty keypoints");
        int64_t count = 0;
        int axis = 0;  // 0: x, 1: y, 2: visibility / score
        double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
        for (;;) {
          r.skip_ws();
          const double v = r.number();
          out.keypoints.push_back(v);
          if (axis == 0) {
            x0 = std::min(x0, v);
            x1 = std::max(x1, v);
          } else if (axis == 1) {
            y0 = std::min(y0, v);
            y1 = std::max(y1, v);
          }
          axis = axis == 2 ? 0 : axis + 1;
          ++count;
          r.skip_ws();
          if (r.peek() == ',') {
            r.expect(',', "");
            continue;
          }
          r.expect(']', "keypoints that are not a flat list of numbers");
          break;
        }
        extent[0] = x0;
        extent[1] = y0;
        extent[2] = x1;
        extent[3] = y1;
        if (out.keypoint_len < 0) out.keypoint_len = count;
        if (count != out.keypoint_len) fallback("keypoints of different lengths");
        break;
      }
      case kBbox:
        r.expect('[', "a bbox that is not a list");
        for (int i = 0; i < 4; ++i) {
          r.skip_ws();
          box[i] = r.number();
          r.skip_ws();
          r.expect(i < 3 ? ',' : ']', "a bbox that is not 4 numbers");
        }
        break;
    }
    r.skip_ws();
    if (r.peek() == ',') {
      r.expect(',', "");
      continue;
    }
    r.expect('}', "an object without '}'");
    break;
  }
  if ((seen & (kImage | kCategory | kScore | kKeypoints)) != (kImage | kCategory | kScore | kKeypoints)) {
    fallback("a result without image_id, category_id, score or keypoints");
  }
  out.bbox.insert(out.bbox.end(), box, box + 4);
  out.has_bbox.push_back((seen & kBbox) ? 1 : 0);
  out.extent.insert(out.extent.end(), extent, extent + 4);
  ++out.num_results;
}

// Objects from `begin` (at a '{') while they start before `stop`; returns where the next one starts (or
// the position of the closing ']' of the array, with *closed set).
const char* parse_chunk(const char* begin, const char* stop, const char* end, CocoResultsColumns& out,
                        bool* closed) {
  Reader r(begin, end);
  *closed = false;
  for (;;) {
    parse_object(r, out);
    r.skip_ws();
    if (r.peek() == ']') {
      *closed = true;
      return r.pos();
    }
    r.expect(',', "entries not separated by ','");
    r.skip_ws();
    if (r.peek() != '{') fallback("an entry that is not an object");
    if (r.pos() >= stop) return r.pos();
  }
}

// dst = the chunks' columns one after the other (dst sized without zeroing, copies in parallel).
template <typename T>
void concat(Column<T>& dst, std::vector<CocoResultsColumns>& parts, Column<T> CocoResultsColumns::*column) {
  std::vector<size_t> offsets{0};
  for (auto& part : parts) offsets.push_back(offsets.back() + (part.*column).size());
  dst.resize(offsets.back());
  parallel_for(static_cast<int64_t>(parts.size()), 1, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      auto& src = parts[static_cast<size_t>(c)].*column;
      if (!src.empty()) {
        std::memcpy(dst.data() + offsets[static_cast<size_t>(c)], src.data(), src.size() * sizeof(T));
      }
      Column<T>().swap(src);
    }
  });
}

void parse_all(const char* data, size_t size, CocoResultsColumns& out) {
  const char* end = data + size;
  Reader r(data, end);
  if (size >= 3 && static_cast<unsigned char>(data[0]) == 0xEF) fallback("a byte-order mark");
  r.skip_ws();
  r.expect('[', "a top level that is not a list");
  r.skip_ws();
  if (r.peek() == ']') {
    r.expect(']', "");
    r.skip_ws();
    if (!r.at_end()) fallback("text after the list");
    return;
  }
  if (r.peek() != '{') fallback("an entry that is not an object");
  const char* first = r.pos();
  // Chunks start at the first '{' at or after equally spaced points. Inside the accepted shape no '{'
  // occurs but at the start of an entry, so each chunk's parse must end exactly where the next chunk
  // starts; if it does not, the input is outside the shape and the general path takes over.
  const int64_t bytes = static_cast<int64_t>(end - first);
  int64_t chunks = std::min<int64_t>(num_threads(), std::max<int64_t>(1, bytes / (1 << 20)));
  std::vector<const char*> starts{first};
  for (int64_t c = 1; c < chunks; ++c) {
    const char* p = first + bytes * c / chunks;
    const void* hit = std::memchr(p, '{', static_cast<size_t>(end - p));
    if (hit == nullptr) break;
    const char* s = static_cast<const char*>(hit);
    if (s > starts.back()) starts.push_back(s);
  }
  chunks = static_cast<int64_t>(starts.size());
  std::vector<CocoResultsColumns> parts(static_cast<size_t>(chunks));
  std::vector<const char*> stops(static_cast<size_t>(chunks));
  std::vector<int> closed(static_cast<size_t>(chunks), 0);
  std::vector<std::string> errors(static_cast<size_t>(chunks));
  parallel_for(chunks, 1, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      auto& part = parts[static_cast<size_t>(c)];
      part.keypoint_len = -1;
      const char* stop = c + 1 < chunks ? starts[static_cast<size_t>(c + 1)] : end;
      // Upper bounds (address space only: pages are touched as they fill): a number takes at least two
      // bytes with its separator, a result object more than 50.
      const size_t span = static_cast<size_t>(stop - starts[static_cast<size_t>(c)]);
      const size_t objects = span / 32 + 16;
      part.image_id.reserve(objects);
      part.category_id.reserve(objects);
      part.score.reserve(objects);
      part.has_bbox.reserve(objects);
      part.bbox.reserve(objects * 4);
      part.extent.reserve(objects * 4);
      part.keypoints.reserve(span / 2 + 64);
      try {
        bool cl = false;
        stops[static_cast<size_t>(c)] = parse_chunk(starts[static_cast<size_t>(c)], stop, end, part, &cl);
        closed[static_cast<size_t>(c)] = cl;
      } catch (const Fallback& f) {
        errors[static_cast<size_t>(c)] = f.reason.empty() ? "a syntax error" : f.reason;
      }
    }
  });
  for (int64_t c = 0; c < chunks; ++c) {
    if (!errors[static_cast<size_t>(c)].empty()) throw Fallback{errors[static_cast<size_t>(c)]};
    const bool last = c + 1 == chunks;
    if (last != static_cast<bool>(closed[static_cast<size_t>(c)])) fallback("chunks that do not join");
    if (!last && stops[static_cast<size_t>(c)] != starts[static_cast<size_t>(c + 1)]) {
      fallback("chunks that do not join");
    }
  }
  Reader tail(stops.back(), end);
  tail.expect(']', "a list without ']'");
  tail.skip_ws();
  if (!tail.at_end()) fallback("text after the list");
  int64_t len = -1;
  for (const auto& part : parts) {
    if (part.num_results == 0) continue;
    if (len >= 0 && part.keypoint_len != len) fallback("keypoints of different lengths");
    len = part.keypoint_len;
  }
  if (chunks == 1) {
    out = std::move(parts[0]);
    return;
  }
  out.keypoint_len = len;
  for (const auto& part : parts) {
    out.num_results += part.num_results;
  }
  concat(out.image_id, parts, &CocoResultsColumns::image_id);
  concat(out.category_id, parts, &CocoResultsColumns::category_id);
  concat(out.score, parts, &CocoResultsColumns::score);
  concat(out.has_bbox, parts, &CocoResultsColumns::has_bbox);
  concat(out.bbox, parts, &CocoResultsColumns::bbox);
  concat(out.extent, parts, &CocoResultsColumns::extent);
  concat(out.keypoints, parts, &CocoResultsColumns::keypoints);
}

}  // namespace

void parse_coco_results(const char* data, size_t size, CocoResultsColumns& out) {
  out = CocoResultsColumns{};
  try {
    parse_all(data, size, out);
    out.status = kResultsOk;
    out.reason.clear();
  } catch (const Fallback& f) {
    out = CocoResultsColumns{};
    out.status = kResultsFallback;
    out.reason = f.reason.empty() ? "a syntax error" : f.reason;
  }
}

}  // namespace hpefast
