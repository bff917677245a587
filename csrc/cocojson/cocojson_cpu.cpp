// COCO results json -> columns (see cocojson.h). A strict reader of one shape: every departure from it is
// a fallback to the general json path, never a guess, so the fast path cannot change a number.
#include "cocojson/cocojson.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <stdexcept>
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

  // Past a string (at its opening quote): escapes and UTF-8 checked as a json parser does.
  void skip_string() {
    expect('"', "a value that is not a string");
    while (p_ < end_) {
      const unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return;
      }
      if (c < 0x20) fallback("a control character in a string");
      if (c == '\\') {
        ++p_;
        if (p_ >= end_) break;
        const char e = *p_++;
        if (e == 'u') {
          for (int i = 0; i < 4; ++i) {
            if (p_ >= end_ || !std::isxdigit(static_cast<unsigned char>(*p_))) fallback("a bad \\u escape");
            ++p_;
          }
        } else if (!std::strchr("\"\\/bfnrt", e) || e == '\0') {
          fallback("a bad escape");
        }
        continue;
      }
      if (c < 0x80) {
        ++p_;
        continue;
      }
      // UTF-8: the lead byte gives the length; continuation bytes are 10xxxxxx (overlong / surrogate
      // forms are left to the general path's decoder, which sees the same bytes when it is used)
      const int len = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
      if (len == 0 || c < 0xC2 || c > 0xF4) fallback("text that is not UTF-8");
      for (int i = 1; i < len; ++i) {
        if (p_ + i >= end_ || (static_cast<unsigned char>(p_[i]) >> 6) != 0x2) fallback("text that is not UTF-8");
      }
      p_ += len;
    }
    fallback("an unterminated string");
  }

  // Past any json value (strictly: a malformed one is a fallback, never skipped over).
  void skip_value(int depth = 0) {
    if (depth > 256) fallback("nesting deeper than 256");
    skip_ws();
    const char c = peek();
    if (c == '"') {
      skip_string();
    } else if (c == '{' || c == '[') {
      const char close = c == '{' ? '}' : ']';
      ++p_;
      skip_ws();
      if (peek() == close) {
        ++p_;
        return;
      }
      for (;;) {
        skip_ws();
        if (close == '}') {
          skip_string();
          skip_ws();
          expect(':', "a key without ':'");
        }
        skip_value(depth + 1);
        skip_ws();
        if (peek() == ',') {
          ++p_;
          continue;
        }
        expect(close, "a list or object without its closing bracket");
        return;
      }
    } else if (c == 't' || c == 'f' || c == 'n') {
      literal();
    } else {
      number();
    }
  }

  // true -> 1, false -> 0, null -> -1.
  int literal() {
    auto word = [&](const char* w, int value) {
      const size_t n = std::strlen(w);
      if (static_cast<size_t>(end_ - p_) < n || std::memcmp(p_, w, n) != 0) fallback("an unknown literal");
      p_ += n;
      return value;
    };
    const char c = peek();
    if (c == 't') return word("true", 1);
    if (c == 'f') return word("false", 0);
    if (c == 'n') return word("null", -1);
    fallback("an unknown literal");
  }

  // A number, or NaN for null (Python's float column of None is NaN).
  double number_or_null() {
    if (peek() == 'n') {
      literal();
      return NAN;
    }
    return number();
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

// Reserves address space for an upper bound of the column's length; where the system refuses that much
// (a huge file on a small machine), the column grows as it fills instead.
template <typename T>
void reserve_upto(Column<T>& column, size_t n) {
  try {
    column.reserve(n);
  } catch (const std::bad_alloc&) {
  } catch (const std::length_error&) {
  }
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

// Appends the other chunks' column to chunk 0's (which reserved room for the whole file: no reallocation,
// no copy of chunk 0's part), in parallel over the chunks.
template <typename T>
void join_column(std::vector<CocoResultsColumns>& parts, Column<T> CocoResultsColumns::*column) {
  Column<T>& dst = parts[0].*column;
  std::vector<size_t> offsets{0};
  for (auto& part : parts) offsets.push_back(offsets.back() + (part.*column).size());
  dst.resize(offsets.back());  // default-init: the new tail is not written twice
  parallel_for(static_cast<int64_t>(parts.size()) - 1, 1, [&](int64_t b, int64_t e) {
    for (int64_t c = b + 1; c < e + 1; ++c) {
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
      // chunk 0 reserves for the whole list: the other chunks are appended to it
      const size_t span = static_cast<size_t>((c == 0 ? end : stop) - starts[static_cast<size_t>(c)]);
      const size_t objects = span / 32 + 16;
      reserve_upto(part.image_id, objects);
      reserve_upto(part.category_id, objects);
      reserve_upto(part.score, objects);
      reserve_upto(part.has_bbox, objects);
      reserve_upto(part.bbox, objects * 4);
      reserve_upto(part.extent, objects * 4);
      reserve_upto(part.keypoints, span / 2 + 64);
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
  if (chunks > 1) {
    int64_t total = 0;
    for (const auto& part : parts) total += part.num_results;
    join_column(parts, &CocoResultsColumns::image_id);
    join_column(parts, &CocoResultsColumns::category_id);
    join_column(parts, &CocoResultsColumns::score);
    join_column(parts, &CocoResultsColumns::has_bbox);
    join_column(parts, &CocoResultsColumns::bbox);
    join_column(parts, &CocoResultsColumns::extent);
    join_column(parts, &CocoResultsColumns::keypoints);
    parts[0].num_results = total;
    parts[0].keypoint_len = len;
  }
  out = std::move(parts[0]);
}

// ---- ground truth ----

enum GtField : unsigned {
  kGtId = 1,
  kGtImage = 2,
  kGtCategory = 4,
  kGtKeypoints = 8,
  kGtNumKeypoints = 16,
  kGtArea = 32,
  kGtBbox = 64,
  kGtCrowd = 128,
};

inline unsigned gt_field_of(const char* k, size_t n) {
  auto is = [&](const char* name) { return n == std::strlen(name) && std::memcmp(k, name, n) == 0; };
  if (is("id")) return kGtId;
  if (is("image_id")) return kGtImage;
  if (is("category_id")) return kGtCategory;
  if (is("keypoints")) return kGtKeypoints;
  if (is("num_keypoints")) return kGtNumKeypoints;
  if (is("area")) return kGtArea;
  if (is("bbox")) return kGtBbox;
  if (is("iscrowd")) return kGtCrowd;
  return 0;
}

// Calls item(r) for each element of the list at r (which is at its '[').
template <typename F>
void for_each_item(Reader& r, F&& item) {
  r.expect('[', "a value that is not a list");
  r.skip_ws();
  if (r.peek() == ']') {
    r.expect(']', "");
    return;
  }
  for (;;) {
    r.skip_ws();
    item(r);
    r.skip_ws();
    if (r.peek() == ',') {
      r.expect(',', "");
      continue;
    }
    r.expect(']', "a list without ']'");
    return;
  }
}

// Calls member(r, key, length) for each member of the object at r (at its '{'), r then at the value.
template <typename F>
void for_each_member(Reader& r, F&& member) {
  r.expect('{', "an entry that is not an object");
  r.skip_ws();
  if (r.peek() == '}') {
    r.expect('}', "");
    return;
  }
  for (;;) {
    r.skip_ws();
    auto [k, n] = r.key();
    r.skip_ws();
    r.expect(':', "a key without ':'");
    r.skip_ws();
    member(r, k, n);
    r.skip_ws();
    if (r.peek() == ',') {
      r.expect(',', "");
      continue;
    }
    r.expect('}', "an object without '}'");
    return;
  }
}

void parse_gt_annotation(Reader& r, CocoGroundTruthColumns& out) {
  unsigned seen = 0;
  double area = NAN, num_kp = NAN, box[4] = {NAN, NAN, NAN, NAN};
  uint8_t crowd = 0;
  for_each_member(r, [&](Reader& r, const char* k, size_t n) {
    const unsigned f = gt_field_of(k, n);
    if (f == 0) {
      r.skip_value();  // segmentation, and any other field
      return;
    }
    if (seen & f) fallback("a duplicate key");
    seen |= f;
    switch (f) {
      case kGtId:
        out.id.push_back(r.integer());
        break;
      case kGtImage:
        out.image_id.push_back(r.integer());
        break;
      case kGtCategory:
        out.category_id.push_back(r.integer());
        break;
      case kGtKeypoints: {
        int64_t count = 0;
        for_each_item(r, [&](Reader& r) {
          out.keypoints.push_back(r.number());
          ++count;
        });
        if (count == 0) fallback("empty keypoints");
        if (out.keypoint_len < 0) out.keypoint_len = count;
        if (count != out.keypoint_len) fallback("keypoints of different lengths");
        break;
      }
      case kGtNumKeypoints:
        num_kp = r.number_or_null();
        break;
      case kGtArea:
        area = r.number_or_null();
        break;
      case kGtBbox:
        if (r.peek() == 'n') {
          r.literal();
          break;
        }
        r.expect('[', "a bbox that is not a list");
        for (int i = 0; i < 4; ++i) {
          r.skip_ws();
          box[i] = r.number();
          r.skip_ws();
          r.expect(i < 3 ? ',' : ']', "a bbox that is not 4 numbers");
        }
        break;
      case kGtCrowd: {
        const char c = r.peek();
        if (c == 't' || c == 'f' || c == 'n') {
          crowd = r.literal() == 1 ? 1 : 0;
        } else {
          crowd = r.number() != 0.0 ? 1 : 0;
        }
        break;
      }
    }
  });
  const unsigned need = kGtId | kGtImage | kGtCategory | kGtKeypoints;
  if ((seen & need) != need) fallback("an annotation without id, image_id, category_id or keypoints");
  out.area.push_back(area);
  out.num_keypoints.push_back(num_kp);
  out.iscrowd.push_back(crowd);
  out.bbox.insert(out.bbox.end(), box, box + 4);
  ++out.num_annotations;
}

void parse_gt_all(const char* data, size_t size, CocoGroundTruthColumns& out) {
  const char* end = data + size;
  if (size >= 3 && static_cast<unsigned char>(data[0]) == 0xEF) fallback("a byte-order mark");
  Reader r(data, end);
  r.skip_ws();
  const size_t objects = size / 48 + 16;
  out.keypoint_len = -1;
  reserve_upto(out.id, objects);
  reserve_upto(out.image_id, objects);
  reserve_upto(out.category_id, objects);
  reserve_upto(out.area, objects);
  reserve_upto(out.num_keypoints, objects);
  reserve_upto(out.iscrowd, objects);
  reserve_upto(out.bbox, objects * 4);
  reserve_upto(out.keypoints, size / 2 + 64);
  reserve_upto(out.image_ids, objects);
  bool seen_categories = false;
  for_each_member(r, [&](Reader& r, const char* k, size_t n) {
    const std::string key(k, n);
    if (key == "annotations") {
      if (out.has_annotations) fallback("a duplicate key");
      out.has_annotations = true;
      for_each_item(r, [&](Reader& r) { parse_gt_annotation(r, out); });
    } else if (key == "images") {
      if (out.has_images) fallback("a duplicate key");
      out.has_images = true;
      for_each_item(r, [&](Reader& r) {
        bool has_id = false;
        for_each_member(r, [&](Reader& r, const char* k, size_t n) {
          if (n == 2 && k[0] == 'i' && k[1] == 'd') {
            if (has_id) fallback("a duplicate key");
            has_id = true;
            out.image_ids.push_back(r.integer());
          } else {
            r.skip_value();
          }
        });
        if (!has_id) fallback("an image without 'id'");
      });
    } else if (key == "categories") {
      if (seen_categories) fallback("a duplicate key");
      seen_categories = true;
      if (r.peek() != '[') fallback("categories that are not a list");
      out.categories_begin = r.pos() - data;
      r.skip_value();
      out.categories_end = r.pos() - data;
    } else {
      r.skip_value();
    }
  });
  r.skip_ws();
  if (!r.at_end()) fallback("text after the object");
}

}  // namespace

void parse_coco_ground_truth(const char* data, size_t size, CocoGroundTruthColumns& out) {
  out = CocoGroundTruthColumns{};
  try {
    parse_gt_all(data, size, out);
    out.status = kResultsOk;
  } catch (const Fallback& f) {
    out = CocoGroundTruthColumns{};
    out.status = kResultsFallback;
    out.reason = f.reason.empty() ? "a syntax error" : f.reason;
  }
}

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
